package task

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// storedProgress is the work done recorded in the checkpoint store holds.
func storedProgress(t *testing.T, store rvm.PageStore) int64 {
	t.Helper()
	pages, err := store.LoadPages(context.Background(), "progress")
	require.NoError(t, err)
	seg, err := rvm.NewSegment("check", rvm.DefaultPageSize, rvm.Config{})
	require.NoError(t, err)
	defer seg.Close()
	copy(seg.Bytes(), pages[0])
	state, err := rvm.View[struct{ Done, Sum int64 }](seg, 0)
	require.NoError(t, err)
	return state.Done
}

// A crash at a checkpoint commit's failpoint stops the task with the
// hook's error; the store holds the checkpoint before (crash before the
// save) or this one (after), and the restarted task finishes from it.
func TestCheckpointFailpointsStopTheTask(t *testing.T) {
	for _, c := range []struct {
		point  string
		stored int64
	}{
		{FPCheckpointSave, 8},   // the 5th checkpoint (16) is not saved
		{FPCheckpointSaved, 16}, // it is
	} {
		t.Run(c.point, func(t *testing.T) {
			ctx := context.Background()
			store := rvm.NewMemStore()
			cfg := Config{Name: "count", Store: store, Policy: Policy{PowerOfTwo: true},
				Failpoint: failpoint.Nth(c.point, "count", 5)}
			st, err := Run(ctx, cfg, counter(1000, 0))
			require.ErrorIs(t, err, failpoint.ErrCrash)
			require.Equal(t, 4, st.Checkpoints, "at 1, 2, 4, 8")
			require.Equal(t, c.stored, storedProgress(t, store))

			cfg.Failpoint = nil
			st, err = Run(ctx, cfg, counter(1000, 0))
			require.NoError(t, err)
			require.True(t, st.Restored)
			require.Equal(t, int64(1000), storedProgress(t, store))
		})
	}
}

// A server hands its Failpoint to every task it runs, named bank/id.
func TestServerPassesItsFailpointToItsTasks(t *testing.T) {
	bank, _ := stmtest.Mirrored(t)
	s := NewServer(context.Background(), ServerConfig{Node: "n", Programs: map[string]Program{"sum": sum},
		Policy: Policy{Percent: 10}, Logger: zaptest.NewLogger(t), Failpoint: failpoint.Nth(FPCheckpointSaved, "n/1", 3)})
	_, err := s.Start(context.Background(), Bank{Name: "n", STM: bank}, "sum", []string{"1000"})
	require.NoError(t, err)
	rec := waitState(t, s, StateFailed)
	require.Contains(t, rec.Error, FPCheckpointSaved)
	require.Equal(t, 2, rec.Stats.Checkpoints)
	s.Wait()
}
