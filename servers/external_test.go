package servers

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// An external client's update is durable when it is acknowledged (output
// commit); concurrent external updates share checkpoints.
func TestExternalOutputCommit(t *testing.T) {
	w := newWorld(t)
	w.serve("s", "kv")
	const clients, calls = 6, 5
	var wg sync.WaitGroup
	errs := make(chan error, clients*calls)
	for i := range clients {
		c := w.external("x", fmt.Sprintf("ext%d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range calls {
				tag := fmt.Sprintf("%d-%d", i, j)
				if _, err := mAdd("kv").Call(w.ctx, c, addReq{Key: "n", By: 1, Tag: tag}); err != nil {
					errs <- err
					return
				}
				if !contains(w.committed("kv").Log, tag) {
					errs <- fmt.Errorf("acknowledged %s not committed", tag)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.Equal(t, clients*calls, w.committed("kv").N["n"])
	ckpts := w.unitState("kv").Inc - 1
	t.Logf("%d external updates, %d checkpoints", clients*calls, ckpts)
	require.LessOrEqual(t, ckpts, uint64(clients*calls))
}

// A retried request (same client id and sequence number) is executed at
// most once: the duplicate table answers it from the saved reply.
func TestRetriedRequestExecutesOnce(t *testing.T) {
	w := newWorld(t)
	w.serve("s", "kv")
	c := w.external("x", "ext")
	_, err := mAdd("kv").Call(w.ctx, c, addReq{Key: "n", By: 7, Tag: "once"})
	require.NoError(t, err)
	c.mu.Lock()
	c.seq-- // the next call reuses the same request id, as a retry does
	c.low--
	c.mu.Unlock()
	n, err := mAdd("kv").Call(w.ctx, c, addReq{Key: "n", By: 7, Tag: "once"})
	require.NoError(t, err)
	require.Equal(t, 7, n, "answered from the saved reply")
	require.Equal(t, 7, w.committed("kv").N["n"])
	require.Equal(t, []string{"once"}, w.committed("kv").Log)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func count(l []string, s string) int {
	n := 0
	for _, x := range l {
		if x == s {
			n++
		}
	}
	return n
}
