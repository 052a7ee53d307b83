package servers

import (
	"context"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/stretchr/testify/require"
)

// A call the client gave up on (timed out) may still run at the server and
// make the client's RU its predecessor. The client keeps the server in its
// write-ahead call record, so when the client's RU aborts (here: the client
// process restarts), the conditional abort reaches the server and the
// update that depended on the dead RU is rolled back (no orphan).
func TestAbandonedCallStillAbortsWithClient(t *testing.T) {
	w := newWorld(t)
	h := w.host("s")
	gate := make(chan struct{})
	srv := mustServer(NewServer(Config{Name: "slow", Driver: h.driver, Logger: w.log}, newCounters))
	Handle(srv, addM, func(c *Call, s *counters, r addReq) (int, error) {
		<-gate
		s.N[r.Key] += r.By
		s.Log = append(s.Log, r.Tag)
		return s.N[r.Key], nil
	})
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	w.waitBound(h, "slow")

	a := w.host("a")
	app, err := NewClient(ClientConfig{Name: "app", Driver: a.driver, Logger: w.log,
		Timeout: 50 * time.Millisecond, Retries: 1})
	require.NoError(t, err)
	lost := app.RU()
	_, err = mAdd("slow").Call(w.ctx, app, addReq{Key: "k", By: 1, Tag: "abandoned"})
	require.Error(t, err, "the call timed out")
	require.Equal(t, 1, w.unitState("app").Calling["slow"], "the call record is kept")

	close(gate) // the server runs the call now: the app's RU becomes its predecessor
	require.Eventually(t, func() bool { return w.liveState("s", "slow").Preds[lost] }, waitFor, tick)

	app.Close() // the client process dies and comes back: its RU aborts
	app2, err := NewClient(ClientConfig{Name: "app", Driver: a.driver, Logger: w.log})
	require.NoError(t, err)
	defer app2.Close()
	require.True(t, w.unitState("app").Aborted[lost.Inc])
	require.Eventually(t, func() bool {
		st := w.liveState("s", "slow")
		return st != nil && !st.Preds[lost] && st.Inc > 1
	}, waitFor, tick, "the server's RU that depended on the aborted one aborted")
	require.NoError(t, srv.Checkpoint(w.ctx))
	require.NotContains(t, w.committed("slow").Log, "abandoned")
}

// An application RU aborted between two calls (a server it depended on
// crashed): the next call reports it once, so the application goes back to
// its checkpoint instead of computing on in the new RU.
func TestAbortBetweenCallsIsReported(t *testing.T) {
	w := newWorld(t)
	w.serve("s", "kv")
	app := w.client("a", "app")
	_, err := mAdd("kv").Call(w.ctx, app, addReq{Key: "k", By: 1})
	require.NoError(t, err)
	lost := app.RU()
	w.crashHost("s")
	w.serve("s", "kv")
	require.Eventually(t, func() bool { return app.Outcome(lost) == ru.Aborted }, waitFor, tick)
	_, err = mGet("kv").Call(w.ctx, app, "k")
	require.ErrorIs(t, err, ErrAborted, "reported by the next call")
	n, err := mGet("kv").Call(w.ctx, app, "k")
	require.NoError(t, err, "once")
	require.Zero(t, n)
}
