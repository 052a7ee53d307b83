package servers

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUpdateThenCheckpointCommitsState(t *testing.T) {
	w := newWorld(t)
	w.serve("s", "kv")
	c := w.client("a", "app")
	n, err := mAdd("kv").Call(w.ctx, c, c.cfgAdd("x", 2))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, 0, w.committed("kv").N["x"], "not committed before the checkpoint")
	require.NoError(t, c.Checkpoint(w.ctx))
	require.Equal(t, 2, w.committed("kv").N["x"])
	got, err := mGet("kv").Call(w.ctx, c, "x")
	require.NoError(t, err)
	require.Equal(t, 2, got)
}

func (c *Client) cfgAdd(key string, by int) addReq { return addReq{Key: key, By: by} }
