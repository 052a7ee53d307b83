package servers

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// The overridable hooks run at their protocol steps: BeforeCheckpoint
// before S goes to STM (its changes are in the checkpoint), AfterCheckpoint
// once it committed, Restart after S was restored from STM (restart, abort).
func TestHooks(t *testing.T) {
	w := newWorld(t)
	h := w.host("s")
	var before, after, restart atomic.Int32
	start := func() (*Server[counters], func()) {
		srv := newCounterServer(Config{Name: "kv", Driver: h.driver, Logger: w.log})
		srv.SetHooks(Hooks[counters]{
			BeforeCheckpoint: func(s *counters) { before.Add(1); s.N["stamped"]++ },
			AfterCheckpoint:  func(s *counters) { after.Add(1) },
			Restart:          func(s *counters) { restart.Add(1) },
		})
		ctx, cancel := context.WithCancel(w.ctx)
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()
		w.waitBound(h, "kv")
		return srv, func() { cancel(); <-done }
	}
	srv, stop := start()
	require.Zero(t, restart.Load(), "a new server starts from init: nothing restored")
	app := w.client("a", "app")
	_, err := mAdd("kv").Call(w.ctx, app, addReq{Key: "x", By: 1})
	require.NoError(t, err)
	require.NoError(t, srv.Checkpoint(w.ctx))
	require.Equal(t, int32(1), before.Load())
	require.Eventually(t, func() bool { return after.Load() == 1 }, waitFor, tick)
	require.Equal(t, 1, w.committed("kv").N["stamped"], "BeforeCheckpoint's change is in the checkpoint")

	_, err = mAdd("kv").Call(w.ctx, app, addReq{Key: "x", By: 1})
	require.NoError(t, err)
	stop() // the server goes away with an uncommitted RU, and comes back
	_, stop = start()
	defer stop()
	require.Equal(t, int32(1), restart.Load(), "restored from STM")
	require.Equal(t, 1, w.committed("kv").N["x"])
}
