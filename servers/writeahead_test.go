package servers

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/stm"
)

// TestFailedWriteAheadSaveLeavesNoOpenCall: the client's write-ahead save
// before a call fails (no backup reachable for a moment), so the request
// never leaves. The unit must not count that call as open: once the backup
// is back, the client's checkpoint commits (a review found the unit never
// quiescent again, its checkpoints stuck in phase 1).
func TestFailedWriteAheadSaveLeavesNoOpenCall(t *testing.T) {
	w := newWorld(t)
	w.tick = time.Hour // no tick retries the save and heals the unit by a restart
	w.serve("s", "kv1")
	w.serve("s", "kv2")
	c := w.client("a", "app")
	_, err := mAdd("kv1").Call(w.ctx, c, addReq{Key: "x", By: 1, Tag: "t1"})
	require.NoError(t, err)

	cut := stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{}))
	require.NoError(t, w.bank.Attach(w.ctx, cut))
	cut.Cut()
	_, err = mAdd("kv2").Call(w.ctx, c, addReq{Key: "y", By: 1, Tag: "t2"}) // a first call to kv2: saved before it leaves
	require.Error(t, err, "the write-ahead save cannot commit without a backup")
	require.NoError(t, w.bank.Attach(w.ctx, stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{}))))

	ctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
	defer cancel()
	require.NoError(t, c.Checkpoint(ctx), "the checkpoint never completed: a call left open")
	require.Equal(t, 1, w.committed("kv1").N["x"])
	require.Zero(t, w.committed("kv2").N["y"])
}
