package rvm

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel/clock"
	"github.com/stretchr/testify/require"
)

// A task that polls is checkpointed with a consistent image: the two words
// it keeps equal are equal in every checkpoint.
func TestCheckpointTaskAtSafePoint(t *testing.T) {
	s := newSeg(t, Compare, 2)
	words := s.Uint32s()
	var sp SafePoint
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := uint32(1); !stop.Load(); i++ {
			words[0] = i
			words[ps/4] = i // another page
			sp.Poll()
		}
	}()
	store := NewMemStore()
	for k := 0; k < 20; k++ {
		tc, err := sp.CheckpointTask(context.Background(), 5*time.Second, store, s)
		require.NoError(t, err)
		require.Equal(t, 1, tc.Segments)
		pages, err := store.LoadPages(context.Background(), "data")
		require.NoError(t, err)
		if len(pages) == 2 {
			a := uint32(pages[0][0]) | uint32(pages[0][1])<<8 | uint32(pages[0][2])<<16 | uint32(pages[0][3])<<24
			b := uint32(pages[1][0]) | uint32(pages[1][1])<<8 | uint32(pages[1][2])<<16 | uint32(pages[1][3])<<24
			require.Equal(t, a, b, "checkpoint %d saw a half-done step", k)
		}
	}
	stop.Store(true)
	<-done
}

func TestTaskThatNeverPollsIsReported(t *testing.T) {
	sp := SafePoint{Name: "editor"}
	_, err := sp.CheckpointTask(context.Background(), 20*time.Millisecond, NewMemStore())
	require.ErrorIs(t, err, ErrNoSafePoint)
	require.Contains(t, err.Error(), `task "editor"`)
	require.Contains(t, err.Error(), "20ms")
	sp.Poll() // not stopped any more: returns at once
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, sp.Stop(ctx, time.Second), context.Canceled)
	sp.Resume() // harmless
}

// The timeout runs on the injected clock: nothing is reported until the
// clock passes it, and then the stop is withdrawn.
func TestSafePointTimeoutOnManualClock(t *testing.T) {
	clk := clock.NewManual(time.Unix(0, 0))
	sp := SafePoint{Clock: clk}
	errc := make(chan error, 1)
	go func() { errc <- sp.Stop(context.Background(), time.Minute) }()
	for clk.Pending() == 0 {
		runtime.Gosched()
	}
	clk.Advance(59 * time.Second)
	select {
	case err := <-errc:
		t.Fatalf("Stop returned %v before its timeout", err)
	default:
	}
	clk.Advance(time.Second)
	require.ErrorIs(t, <-errc, ErrNoSafePoint)
	sp.Poll() // the stop was withdrawn: returns at once
}

// BenchmarkPoll: the safe-point poll when no checkpoint is pending, against
// a bare atomic load in the same run (x-atomic).
func BenchmarkPoll(b *testing.B) {
	var sp SafePoint
	var flag atomic.Bool
	var base, poll time.Duration
	const n = 1 << 16
	for i := 0; i < b.N; i++ {
		start := time.Now()
		for k := 0; k < n; k++ {
			sp.Poll()
		}
		poll += time.Since(start)
		start = time.Now()
		hits := 0
		for k := 0; k < n; k++ {
			if flag.Load() {
				hits++
			}
		}
		base += time.Since(start)
		if hits != 0 {
			b.Fatal("flag set")
		}
	}
	b.ReportMetric(float64(poll.Nanoseconds())/float64(b.N*n), "ns/poll")
	b.ReportMetric(float64(poll)/float64(base), "x-atomic")
}
