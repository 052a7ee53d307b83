package servers

import (
	"context"
	"testing"

	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/stretchr/testify/require"
)

// Dependency rules per call level (§4.1, Figure 7) through the real RPC
// path: the client's and the server's persisted graphs after each call.
func TestDepsPerCallLevel(t *testing.T) {
	w := newWorld(t)
	w.serve("s", "kv")
	w.serve("s", "kv2")
	w.serve("s2", "front")
	a, b := w.client("a", "a"), w.client("b", "b")
	pred := func(unit string, p ru.ID) bool { return w.unitState(unit).Preds[p] }
	succ := func(unit string, q ru.ID) bool { return w.unitState(unit).Succs[q] }

	// read of unmodified state: no dependency
	_, err := mGet("kv").Call(w.ctx, a, "x")
	require.NoError(t, err)
	kv, aID := w.liveID("s", "kv"), a.RU()
	require.False(t, pred("a", kv) || succ("a", kv) || pred("kv", aID) || succ("kv", aID), "read of unmodified state: none")

	// update: both directions, in both graphs
	_, err = mAdd("kv").Call(w.ctx, b, addReq{Key: "x", By: 1})
	require.NoError(t, err)
	bID := b.RU()
	require.True(t, pred("b", kv) && succ("b", kv), "client side of an update")
	require.True(t, pred("kv", bID) && succ("kv", bID), "server side of an update")

	// read of modified state: server → client only
	_, err = mGet("kv").Call(w.ctx, a, "x")
	require.NoError(t, err)
	require.True(t, pred("a", kv) && succ("kv", aID), "read of modified state: server → client")
	require.False(t, succ("a", kv) || pred("kv", aID), "read of modified state: not client → server")

	// nested: a reads front, front updates kv2; attributes are not propagated
	_, err = mFwd("front").Call(w.ctx, a, fwdReq{To: "kv2", Add: addReq{Key: "y", By: 1}})
	require.NoError(t, err)
	front, kv2 := w.liveID("s2", "front"), w.liveID("s", "kv2")
	require.False(t, pred("a", front) || succ("a", front), "a read unmodified front: none")
	require.False(t, pred("a", kv2) || succ("a", kv2), "no dependency through the nested call")
	require.True(t, pred("front", kv2) && succ("front", kv2) && pred("kv2", front) && succ("kv2", front),
		"the nested update: both directions at its own level")
}

// Figure 7: the server's checkpoint takes its predecessors (client b, who
// updated) but not client a, who only read modified state; a's own later
// checkpoint then finds the server's RU committed.
func TestFig7ServerCheckpointConsistentSet(t *testing.T) {
	w := newWorld(t)
	srv := newCounterServer(Config{Name: "kv", Driver: w.host("s").driver, Logger: w.log})
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(w.ctx)
	go func() { done <- srv.Run(ctx) }()
	w.waitBound(w.host("s"), "kv")
	a, b := w.client("a", "a"), w.client("b", "b")
	_, err := mAdd("kv").Call(w.ctx, b, addReq{Key: "x", By: 5})
	require.NoError(t, err)
	_, err = mGet("kv").Call(w.ctx, a, "x")
	require.NoError(t, err)
	aID, bID, kvID := a.RU(), b.RU(), w.liveID("s", "kv")

	require.NoError(t, srv.Checkpoint(w.ctx))
	require.Equal(t, 5, w.committed("kv").N["x"])
	require.Eventually(t, func() bool { return b.RU().Inc == bID.Inc+1 }, waitFor, tick, "b committed with the server")
	require.Equal(t, aID, a.RU(), "a only read: not in the server's checkpoint")
	require.True(t, w.unitState("a").Preds[kvID])

	require.NoError(t, a.Checkpoint(w.ctx), "a's checkpoint finds kv's RU committed")
	require.Equal(t, aID.Inc+1, a.RU().Inc)
	cancel()
	require.NoError(t, <-done)
}

// A checkpoint across 3 servers and 2 clients commits all state together.
func TestCheckpointThreeServersTwoClients(t *testing.T) {
	w := newWorld(t)
	w.serve("s1", "k1")
	w.serve("s2", "k2")
	w.serve("s2", "k3")
	c1, c2 := w.client("a", "c1"), w.client("b", "c2")
	for _, call := range []struct {
		c   *Client
		srv string
	}{{c1, "k1"}, {c1, "k2"}, {c2, "k2"}, {c2, "k3"}} {
		_, err := mAdd(call.srv).Call(w.ctx, call.c, addReq{Key: call.c.cfg.Name, By: 1})
		require.NoError(t, err)
	}
	ids := map[string]ru.ID{"c1": c1.RU(), "c2": c2.RU(), "k1": w.liveID("s1", "k1"),
		"k2": w.liveID("s2", "k2"), "k3": w.liveID("s2", "k3")}
	for _, k := range []string{"k1", "k2", "k3"} {
		require.Empty(t, w.committed(k).N)
	}
	require.NoError(t, c1.Checkpoint(w.ctx))
	require.Equal(t, map[string]int{"c1": 1}, w.committed("k1").N)
	require.Equal(t, map[string]int{"c1": 1, "c2": 1}, w.committed("k2").N)
	require.Equal(t, map[string]int{"c2": 1}, w.committed("k3").N)
	require.Eventually(t, func() bool {
		for name, id := range ids {
			st := w.unitState(name)
			if st.Inc != id.Inc+1 || st.Aborted[id.Inc] {
				return false
			}
		}
		return true
	}, waitFor, tick, "all five RUs committed")
}
