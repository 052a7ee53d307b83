package servers

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// boomM changes S, then panics with the request as the value.
var boomM = NewMethod[string, int]("boom", Update)

// servePanicky runs a counter server that also has boom, on host hostName.
func (w *world) servePanicky(hostName, name string) {
	h := w.host(hostName)
	srv := newCounterServer(Config{Name: name, Driver: h.driver, Logger: w.log})
	Handle(srv, boomM, func(c *Call, s *counters, v string) (int, error) {
		s.N["x"] += 100 // rolled back with the RU
		panic(v)
	})
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	h.cancel[name], h.done[name] = cancel, done
	go func() { done <- srv.Run(ctx) }()
	w.waitBound(h, name)
}

// A handler's panic fails its call with the panic value and restarts the
// server's recovery unit: S goes back to its last committed version and
// the same server serves the next call; another server on the same driver
// is not touched.
func TestHandlerPanicFailsCallAndRestartsUnit(t *testing.T) {
	w := newWorld(t)
	w.servePanicky("s", "kv")
	w.serve("s", "other")
	ext := w.external("x", "ext")
	_, err := mAdd("kv").Call(w.ctx, ext, addReq{Key: "x", By: 1}) // committed: output commit
	require.NoError(t, err)
	_, err = mAdd("other").Call(w.ctx, ext, addReq{Key: "y", By: 5})
	require.NoError(t, err)
	before := w.liveID("s", "kv")

	_, err = boomM.At("kv").Call(w.ctx, ext, "kaboom")
	require.ErrorIs(t, err, ErrHandlerPanicked)
	require.ErrorContains(t, err, "kaboom")
	var re *RemoteError
	require.True(t, errors.As(err, &re))

	after := w.liveID("s", "kv")
	require.Equal(t, before.Name, after.Name)
	require.NotEqual(t, before, after, "the unit restarted: its RU aborted")
	n, err := mGet("kv").Call(w.ctx, ext, "x")
	require.NoError(t, err)
	require.Equal(t, 1, n, "S rolled back to its last committed version")
	n, err = mAdd("kv").Call(w.ctx, ext, addReq{Key: "x", By: 1})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, 2, w.committed("kv").N["x"])

	n, err = mGet("other").Call(w.ctx, ext, "y")
	require.NoError(t, err)
	require.Equal(t, 5, n, "the other server on the driver kept its state")
}

// A panic aborts the server's RU as a crash would: an uncommitted update
// is rolled back, and the application RU that depended on it aborts too.
func TestHandlerPanicAbortsDependentRU(t *testing.T) {
	w := newWorld(t)
	w.servePanicky("s", "kv")
	app := w.client("a", "app")
	_, err := mAdd("kv").Call(w.ctx, app, addReq{Key: "x", By: 1}) // uncommitted
	require.NoError(t, err)
	ext := w.external("x", "ext")
	_, err = boomM.At("kv").Call(w.ctx, ext, "again")
	require.ErrorIs(t, err, ErrHandlerPanicked)
	n, err := mGet("kv").Call(w.ctx, ext, "x")
	require.NoError(t, err)
	require.Zero(t, n, "the uncommitted update went with the RU")
	require.Eventually(t, func() bool {
		_, err = mGet("kv").Call(w.ctx, app, "x")
		return errors.Is(err, ErrAborted)
	}, waitFor, tick, "the application RU that saw the update aborts")
}
