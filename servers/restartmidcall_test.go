package servers

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// slowAddM is a counter update whose handler the test holds.
var slowAddM = NewMethod[string, int]("slowadd", Update)

// TestRestartMidCallKeepsTheAbortedCallOutOfCheckpoints: a server's unit
// crashes and restarts while a handler runs (as a failed batched save
// does). Until that call ends and S is rolled back, S holds the aborted
// call's effects, so a checkpoint started meanwhile must not commit them:
// the client retries the call and it must count once (a review found the
// update committed by the checkpoint, then applied again by the retry).
func TestRestartMidCallKeepsTheAbortedCallOutOfCheckpoints(t *testing.T) {
	w := newWorld(t)
	h := w.host("s")
	srv := mustServer(NewServer(Config{Name: "kv", Driver: h.driver, Logger: w.log}, newCounters))
	entered := make(chan struct{}, 10)
	release := make(chan struct{})
	unblock := sync.OnceFunc(func() { close(release) })
	defer unblock() // a failed assertion must not leave the handler blocked
	first := true
	Handle(srv, slowAddM, func(c *Call, s *counters, k string) (int, error) {
		s.N[k]++
		if first {
			first = false
			entered <- struct{}{}
			<-release
		}
		return s.N[k], nil
	})
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	h.cancel["kv"], h.done["kv"] = cancel, done
	go func() { done <- srv.Run(ctx) }()
	w.waitBound(h, "kv")
	ext := w.external("c", "ext")
	res := make(chan error, 1)
	go func() {
		_, err := slowAddM.At("kv").Call(w.ctx, ext, "x")
		res <- err
	}()
	<-entered
	d := h.driver
	d.mu.Lock()
	d.host.Crash("kv")
	envs, _ := d.flushLocked()
	d.mu.Unlock()
	d.send(envs)
	cctx, ccancel := context.WithTimeout(w.ctx, 300*time.Millisecond)
	_ = srv.Checkpoint(cctx) // waits for the call (times out here) or commits S without it
	ccancel()
	require.Zero(t, w.committed("kv").N["x"], "a checkpoint committed the effects of an aborted call")
	unblock()
	require.NoError(t, <-res)
	require.Equal(t, 1, w.committed("kv").N["x"], "the retried update counts once")
}
