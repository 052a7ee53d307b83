package servers

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func unitOf(t *testing.T, ds DriverStatus, name string) UnitStatus {
	t.Helper()
	for _, u := range ds.Units {
		if u.Unit == name {
			return u
		}
	}
	t.Fatalf("driver %s has no unit %q: %+v", ds.Host, name, ds.Units)
	return UnitStatus{}
}

// Inspect on real drivers: an update call puts the edge in both graphs,
// both ways; a checkpoint of the client ends both RUs (new incarnations,
// last outcome committed) and the edges are gone.
func TestInspectDependencyGraph(t *testing.T) {
	w := newWorld(t)
	w.serve("s", "kv")
	a := w.client("a", "app")
	ds, da := w.hosts["s"].driver, w.hosts["a"].driver

	kv := unitOf(t, ds.Inspect(), "kv")
	require.True(t, kv.Server && kv.Up)
	require.Equal(t, "kv.1", kv.RU)
	require.Equal(t, "running", kv.Phase)
	require.Empty(t, kv.Preds)
	require.Empty(t, kv.LastOutcome)
	require.Empty(t, ds.Inspect().Edges)

	_, err := mAdd("kv").Call(w.ctx, a, addReq{Key: "x", By: 1})
	require.NoError(t, err)
	both := []Edge{{From: "app.1", To: "kv.1"}, {From: "kv.1", To: "app.1"}}
	sst, ast := ds.Inspect(), da.Inspect()
	require.Equal(t, both, sst.Edges, "the server's view")
	require.Equal(t, both, ast.Edges, "the client's view")
	kv = unitOf(t, sst, "kv")
	require.Equal(t, []string{"app.1"}, kv.Preds)
	require.Equal(t, []string{"app.1"}, kv.Succs)
	require.True(t, kv.Modified)
	app := unitOf(t, ast, "app")
	require.False(t, app.Server)
	require.Equal(t, []string{"kv.1"}, app.Preds)
	require.Equal(t, []string{"kv.1"}, app.Succs)

	require.NoError(t, a.Checkpoint(w.ctx))
	// The client's RU ended when Checkpoint returned; the server's ends
	// when the decision reaches it.
	require.Eventually(t, func() bool { return unitOf(t, ds.Inspect(), "kv").Inc == 2 }, waitFor, tick)
	sst, ast = ds.Inspect(), da.Inspect()
	require.Empty(t, sst.Edges)
	require.Empty(t, ast.Edges)
	for _, u := range []UnitStatus{unitOf(t, sst, "kv"), unitOf(t, ast, "app")} {
		require.Equal(t, uint64(2), u.Inc, u.Unit)
		require.Equal(t, "committed", u.LastOutcome, u.Unit)
		require.Equal(t, "running", u.Phase, u.Unit)
		require.Empty(t, u.Preds, u.Unit)
		require.False(t, u.Modified, u.Unit)
	}
	require.Positive(t, sst.Msgs+ast.Msgs, "the checkpoint sent protocol messages")
}
