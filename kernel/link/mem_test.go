package link

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ftm-in-go/ftm/kernel/clock"
)

func drain(t *testing.T, l Link) []uint64 {
	t.Helper()
	var seqs []uint64
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		f, err := l.Recv(ctx)
		cancel()
		if err != nil {
			return seqs
		}
		seqs = append(seqs, f.Seq)
	}
}

func sendSeqs(t *testing.T, l Link, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		require.NoError(t, l.Send(context.Background(), Frame{Seq: uint64(i)}))
	}
}

func scripted(fates map[uint64]Fate) func(string, Frame) Fate {
	return func(_ string, f Frame) Fate { return fates[f.Seq] }
}

func TestMemLinkScriptedFates(t *testing.T) {
	clk := clock.NewManual(time.Unix(0, 0))
	a, b := NewMemPair("a", "b", MemConfig{Clock: clk, DelayBy: time.Second, Script: scripted(map[uint64]Fate{
		2: Drop, 3: Duplicate, 4: Reorder, 6: Delay,
	})})
	sendSeqs(t, a, 7)
	require.Equal(t, []uint64{1, 3, 3, 5, 4, 7}, drain(t, b), "2 dropped, 3 twice, 4 after 5, 6 delayed")
	clk.Advance(time.Second)
	require.Equal(t, []uint64{6}, drain(t, b))
}

func TestMemLinkRandomFatesAreDeterministic(t *testing.T) {
	run := func() []uint64 {
		a, b := NewMemPair("a", "b", MemConfig{Seed: 42, Drop: 0.2, Duplicate: 0.1, Reorder: 0.1})
		sendSeqs(t, a, 200)
		return drain(t, b)
	}
	first := run()
	require.Equal(t, first, run(), "same seed, same fates")
	require.Less(t, len(first), 200+40, "some frames were dropped or duplicated")
	require.NotEqual(t, 200, len(first))
}

func TestMemLinkHealthyIsExactlyOnceInOrder(t *testing.T) {
	a, b := NewMemPair("a", "b", MemConfig{})
	sendSeqs(t, a, 1000)
	got := drain(t, b)
	require.Len(t, got, 1000)
	for i, s := range got {
		require.Equal(t, uint64(i+1), s)
	}
	require.Equal(t, "b", a.Peer())
}

func TestMemLinkCutFailsBothEnds(t *testing.T) {
	a, b := NewMemPair("a", "b", MemConfig{})
	sendSeqs(t, a, 1)
	a.Cut()
	f, err := b.Recv(context.Background())
	require.NoError(t, err, "frames already delivered survive the cut")
	require.Equal(t, uint64(1), f.Seq)
	_, err = b.Recv(context.Background())
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, a.Send(context.Background(), Frame{}), ErrClosed)
	<-b.Done()
}

func TestMemLinkSendCopiesBody(t *testing.T) {
	a, b := NewMemPair("a", "b", MemConfig{})
	body := []byte("abc")
	require.NoError(t, a.Send(context.Background(), Frame{Body: body}))
	body[0] = 'X'
	f, err := b.Recv(context.Background())
	require.NoError(t, err)
	require.Equal(t, "abc", string(f.Body))
}

func TestMuxRoutesByService(t *testing.T) {
	a, b := NewMemPair("a", "b", MemConfig{})
	core, logs := observer.New(zap.WarnLevel)
	ma, mb := NewMux(a, zap.New(core)), NewMux(b, nil)
	defer ma.Close()
	hbA, err := ma.Channel(ServiceHeartbeat)
	require.NoError(t, err)
	stA, err := ma.Channel(ServiceSTM)
	require.NoError(t, err)
	_, err = ma.Channel(ServiceSTM)
	require.ErrorIs(t, err, ErrServiceOpen)
	hbB, _ := mb.Channel(ServiceHeartbeat)
	stB, _ := mb.Channel(ServiceSTM)

	ctx := ctxT(t)
	require.NoError(t, hbB.Send(ctx, Frame{Service: ServiceSTM, Seq: 1})) // tag forced to heartbeat
	require.NoError(t, stB.Send(ctx, Frame{Seq: 2}))
	require.NoError(t, b.Send(ctx, Frame{Service: ServiceControl, Seq: 3})) // not opened yet: held
	f, err := stA.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(2), f.Seq)
	f, err = hbA.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1), f.Seq)
	require.Equal(t, ServiceHeartbeat, f.Service)

	ctlA, err := ma.Channel(ServiceControl)
	require.NoError(t, err)
	f, err = ctlA.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(3), f.Seq, "a frame that came before its channel opened is handed over")

	require.NoError(t, stA.Close())
	<-stA.Done()
	require.ErrorIs(t, stA.Send(ctx, Frame{}), ErrClosed)
	require.NoError(t, stB.Send(ctx, Frame{Seq: 4})) // for a closed channel: dropped
	require.NoError(t, hbB.Send(ctx, Frame{Seq: 5})) // routed after it
	f, err = hbA.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(5), f.Seq, "closing one channel leaves the others up")
	dropped := logs.FilterMessage("frame for a service nobody opened dropped").All()
	require.Len(t, dropped, 1)
	require.EqualValues(t, ServiceSTM, dropped[0].ContextMap()["service"])
	require.Equal(t, "channel closed", dropped[0].ContextMap()["why"])

	a.Cut()
	_, err = hbB.Recv(ctx)
	require.ErrorIs(t, err, ErrClosed)
	<-hbA.Done()
}

// Frames held for a service nobody opened are bounded; past the bound they
// are dropped and logged, and the held ones still arrive in order.
func TestMuxHoldsBoundedFramesForUnopenedServices(t *testing.T) {
	a, b := NewMemPair("a", "b", MemConfig{})
	core, logs := observer.New(zap.WarnLevel)
	ma := NewMux(a, zap.New(core))
	defer ma.Close()
	ctx := ctxT(t)
	for i := 0; i < MuxHoldFrames+3; i++ {
		require.NoError(t, b.Send(ctx, Frame{Service: ServiceControl, Seq: uint64(i)}))
	}
	require.NoError(t, b.Send(ctx, Frame{Service: ServiceHeartbeat, Seq: 99})) // also held: the bound is reached
	require.NoError(t, b.Close())
	<-ma.Done()
	ctl, err := ma.Channel(ServiceControl)
	require.NoError(t, err)
	for i := 0; i < MuxHoldFrames; i++ {
		f, err := ctl.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, uint64(i), f.Seq)
	}
	_, err = ctl.Recv(ctx)
	require.ErrorIs(t, err, ErrClosed)
	require.Equal(t, 4, logs.FilterMessage("frame for a service nobody opened dropped").Len())
}
