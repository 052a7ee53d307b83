package servers

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// level is the state of the deadline test's servers.
type level struct{ Calls int }

var (
	waitM  = NewMethod[string, int]("wait", Update)  // blocks until its call's context ends
	relayM = NewMethod[string, int]("relay", Update) // calls wait at the server named by the request
)

// serveLevel runs a server with wait and relay on host hostName; wait
// reports that it began on began and how its context ended on ended.
func (w *world) serveLevel(hostName, name string, began chan<- struct{}, ended chan<- error) {
	h := w.host(hostName)
	srv := mustServer(NewServer(Config{Name: name, Driver: h.driver, Logger: w.log}, func() level { return level{} }))
	Handle(srv, waitM, func(c *Call, s *level, _ string) (int, error) {
		s.Calls++
		began <- struct{}{}
		<-c.Context().Done()
		ended <- c.Context().Err()
		return 0, c.Context().Err()
	})
	Handle(srv, relayM, func(c *Call, s *level, to string) (int, error) {
		s.Calls++
		return waitM.At(to).Call(c.Context(), c.Client(), "")
	})
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	h.cancel[name], h.done[name] = cancel, done
	go func() { done <- srv.Run(ctx) }()
	w.waitBound(h, name)
}

// The deadline of the outermost client reaches the handler's context and
// the nested call it makes: a handler blocked in a nested call returns
// when the client's deadline passes, and both servers serve again.
func TestClientDeadlineReachesNestedHandler(t *testing.T) {
	w := newWorld(t)
	began, ended := make(chan struct{}, 4), make(chan error, 4)
	w.serveLevel("s1", "front", began, ended)
	w.serveLevel("s2", "back", began, ended)
	ext := w.external("x", "ext")

	ctx, cancel := context.WithTimeout(w.ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := relayM.At("front").Call(ctx, ext, "back")
	require.Error(t, err)
	select {
	case err := <-ended:
		require.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(5 * time.Second):
		t.Fatal("the nested handler never saw the client's deadline")
	}
	require.Less(t, time.Since(start), 5*time.Second)

	// Both servers are free again: a call with its own deadline is served.
	ctx2, cancel2 := context.WithTimeout(w.ctx, 100*time.Millisecond)
	defer cancel2()
	_, err = waitM.At("back").Call(ctx2, ext, "")
	require.True(t, err != nil && !errors.Is(err, ErrHandlerPanicked))
	require.ErrorIs(t, <-ended, context.DeadlineExceeded, "back served the next call")
}

// A request without a deadline runs under the server's context alone,
// shared with the next call until a cancel ends it; one with a deadline
// gets its own, released at its end.
func TestCallContexts(t *testing.T) {
	var cs cancels
	ctx := cs.begin(context.Background(), request{Client: "c", Seq: 1})
	_, ok := ctx.Deadline()
	require.False(t, ok)
	cs.end()
	require.NoError(t, ctx.Err())
	require.Equal(t, ctx, cs.begin(context.Background(), request{Client: "c", Seq: 2}), "reused")
	cs.cancelCall(callKey{Client: "c", Seq: 2})
	require.ErrorIs(t, ctx.Err(), context.Canceled)
	cs.end()
	ctx3 := cs.begin(context.Background(), request{Client: "c", Seq: 3, Timeout: time.Hour})
	require.NotEqual(t, ctx, ctx3)
	require.NoError(t, ctx3.Err(), "a new context after a cancel")
	dl, ok := ctx3.Deadline()
	require.True(t, ok && time.Until(dl) > 59*time.Minute)
	cs.end()
	require.ErrorIs(t, ctx3.Err(), context.Canceled, "released at the end of its call")
	cs.close()

	require.Zero(t, timeLeft(context.Background()))
	dctx, dcancel := context.WithTimeout(context.Background(), time.Hour)
	defer dcancel()
	left := timeLeft(dctx)
	require.True(t, left > 59*time.Minute && left <= time.Hour)
}

// A client's cancellation (no deadline) reaches the handler's context and
// its nested call: the cancel message goes to the front server, whose
// handler's context ends, and its nested client sends one on to the back.
func TestClientCancelReachesNestedHandler(t *testing.T) {
	w := newWorld(t)
	began, ended := make(chan struct{}, 4), make(chan error, 4)
	w.serveLevel("s1", "front", began, ended)
	w.serveLevel("s2", "back", began, ended)
	ext := w.external("x", "ext")

	ctx, cancel := context.WithCancel(w.ctx)
	go func() {
		<-began // the call has reached back
		cancel()
	}()
	_, err := relayM.At("front").Call(ctx, ext, "back")
	require.ErrorIs(t, err, context.Canceled)
	select {
	case err := <-ended:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("the nested handler never saw the client's cancellation")
	}
}

// A cancel that arrives before its call cancels the call as it starts;
// one for another call is kept apart.
func TestEarlyCancel(t *testing.T) {
	var cs cancels
	defer cs.close()
	cs.cancelCall(callKey{Client: "c", Seq: 2})
	ctx1 := cs.begin(context.Background(), request{Client: "c", Seq: 1, Timeout: time.Hour})
	require.NoError(t, ctx1.Err())
	cs.end()
	ctx2 := cs.begin(context.Background(), request{Client: "c", Seq: 2})
	require.ErrorIs(t, ctx2.Err(), context.Canceled)
	cs.end()
	cs.cancelCall(callKey{Client: "c", Seq: 1}) // no call in progress: kept
	require.True(t, cs.early[callKey{Client: "c", Seq: 1}])
}
