package heartbeat

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel/clock"
	"github.com/ftm-in-go/ftm/kernel/link"
)

// A watcher echoes the partner's beats, and times the echoes of its own:
// OnRoundTrip gets the time from a beat's send to its echo's arrival; an
// echo of a beat it never sent is ignored.
func TestWatchEchoesBeatsAndTimesRoundTrips(t *testing.T) {
	a, b := newPipe() // the test plays b by hand
	clk := clock.NewManual(t0)
	rtts := make(chan time.Duration, 4)
	cfg := Config{Period: 10 * time.Millisecond, Timeout: time.Hour, OnRoundTrip: func(d time.Duration) { rtts <- d }}
	ctx, cancel := context.WithCancel(context.Background())
	deaths := make(chan *Death, 1)
	go func() { deaths <- Watcher{Clock: clk, Config: cfg}.Watch(ctx, a) }()

	beat := <-b.in // a's first beat, sent at once
	require.Equal(t, kindBeat, beat.Kind)
	clk.Advance(3 * time.Millisecond) // no beat is due: the round trip is 3ms
	b.out <- link.Frame{Service: link.ServiceHeartbeat, Kind: kindEcho, Seq: beat.Seq}
	require.Equal(t, 3*time.Millisecond, <-rtts)
	b.out <- link.Frame{Service: link.ServiceHeartbeat, Kind: kindEcho, Seq: beat.Seq + 1000}

	b.out <- link.Frame{Service: link.ServiceHeartbeat, Kind: kindBeat, Seq: 7}
	for f := range b.in {
		if f.Kind == kindEcho {
			require.Equal(t, uint64(7), f.Seq, "b's beat comes back as sent")
			break
		}
	}
	cancel()
	require.Nil(t, <-deaths)
	select {
	case d := <-rtts:
		t.Fatalf("an echo of a beat never sent was timed: %s", d)
	default:
	}
}
