package task

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/pager"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// decideCrash crashes the primary bank at the decision of the first group
// decided once armed: the decision is taken but never reaches the backup,
// so the backup taken over holds that checkpoint's group in doubt.
type decideCrash struct {
	armed atomic.Bool
	once  sync.Once
	hit   chan struct{}
}

func (d *decideCrash) fail(point, _ string) error {
	if point != stm.FPPhase2Decided || !d.armed.Load() {
		return nil
	}
	d.once.Do(func() { close(d.hit) })
	return failpoint.ErrCrash
}

// inDoubtAfterCrash runs a task that checkpoints step 1 (committed) and
// then step 2, whose atomic action is cut at the STM decision by a crash
// of the machine; it returns the group the backup, taken over, holds in
// doubt. The rig then has no driver: the bank's units are down.
func inDoubtAfterCrash(t *testing.T, r *unitRig) stm.GroupID {
	crash := &decideCrash{hit: make(chan struct{})}
	_ = r.bank.Close()
	r.bank = stm.NewBank(stm.Config{Logger: r.log, Failpoint: crash.fail})
	r.backup = stmtest.Protect(t, r.bank)
	r.serveCounter()
	r.host("a")
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, r.config("task1"), func(ctx context.Context, tk *Task) error {
			words, p, st, err := stampedSegments(ctx, tk)
			if err != nil {
				return err
			}
			for step := int64(1); step <= 2; step++ {
				if _, err := counterSet.Call(ctx, tk.Client(), step); err != nil {
					return err
				}
				stampAll(words, p, st, step)
				crash.armed.Store(step == 2)
				if err := tk.Checkpoint(ctx); err != nil {
					return err
				}
			}
			return nil
		})
		done <- err
	}()
	select {
	case <-crash.hit:
	case err := <-done:
		t.Fatalf("the task ended before the crash: %v", err)
	}
	r.stopAll() // the machine is gone: what is left is the backup
	cancel()
	<-done
	b, rep, err := r.backup.Takeover(r.ctx, stm.Config{Logger: r.log})
	require.NoError(t, err)
	_ = r.bank.Close()
	r.bank, r.backup = b, stmtest.Protect(t, b)
	require.Len(t, rep.InDoubt, 1, "the checkpoint's group is in doubt in the bank taken over")
	for g := range rep.InDoubt {
		return g
	}
	return 0
}

// restoreRun is a run of task1 that restores its segments and reads the
// step they carry; its log is observed.
type restoreRun struct {
	logs *observer.ObservedLogs
	done chan error
	step int64
}

func startRestore(r *unitRig, cfg Config, prog func(ctx context.Context, tk *Task) error) *restoreRun {
	core, logs := observer.New(zapcore.InfoLevel)
	cfg.Logger = zap.New(zapcore.NewTee(core, r.log.Core()))
	rr := &restoreRun{logs: logs, done: make(chan error, 1)}
	if prog == nil {
		prog = func(ctx context.Context, tk *Task) error {
			words, p, st, err := stampedSegments(ctx, tk)
			if err == nil {
				rr.step, err = checkStamped(words, p, st)
			}
			return err
		}
	}
	go func() {
		_, err := Run(r.ctx, cfg, prog)
		rr.done <- err
	}()
	return rr
}

// waiting waits until the restore says it waits for a group in doubt
// (and has not ended).
func (rr *restoreRun) waiting(t *testing.T) {
	deadline := time.Now().Add(20 * time.Second)
	for rr.logs.FilterMessageSnippet("restore waits").Len() == 0 {
		select {
		case err := <-rr.done:
			t.Fatalf("the restore ended instead of waiting for the group in doubt: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "the restore never met the group in doubt")
	}
}

func (rr *restoreRun) wait(t *testing.T) error {
	select {
	case err := <-rr.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("the restore did not end")
		return nil
	}
}

// counterCommitted is the counter server's committed S, read from the bank.
func counterCommitted(t *testing.T, r *unitRig) int64 {
	v, found, err := servers.ReadState[int64](r.ctx, r.bank, "counter")
	require.NoError(t, err)
	require.True(t, found)
	return v
}

// TestRestoreWaitsForTheGroupInDoubt: a task is restarted on a bank
// taken over while its last checkpoint's group is still in doubt there
// and no driver runs the bank's units (no backup yet): the restore reads
// the bank directly, meets the group, and waits for it instead of
// failing; once the group is decided — committed or aborted in the bank,
// or by the units restarted on a driver that appeared meanwhile, as their
// records say (committed) — the task goes on from the checkpoint the
// decision kept, every segment and the server it called agreeing.
func TestRestoreWaitsForTheGroupInDoubt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		decide func(r *unitRig, g stm.GroupID) error
		want   int64
	}{
		{"commit", func(r *unitRig, g stm.GroupID) error { return r.bank.Decide(r.ctx, g, true) }, 2},
		{"abort", func(r *unitRig, g stm.GroupID) error { return r.bank.Decide(r.ctx, g, false) }, 1},
		{"driver", func(r *unitRig, _ stm.GroupID) error { r.serveCounter(); r.host("a"); return nil }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newUnitRig(t)
			g := inDoubtAfterCrash(t, r)
			rr := startRestore(r, r.config("task1"), nil)
			rr.waiting(t)
			require.NoError(t, tc.decide(r, g))
			require.NoError(t, rr.wait(t))
			require.Equal(t, tc.want, rr.step, "the checkpoint the decision kept")
			require.Equal(t, tc.want, counterCommitted(t, r), "the server the task called agrees")
			require.Equal(t, 1, rr.logs.FilterMessageSnippet("restore goes on").Len())
		})
	}
}

// TestRestoreInDoubtIsBoundedAndRetriable: a restore that waits longer
// than InDoubtWait fails with ErrInDoubt and leaves the task's segments as
// they were before it, so the program may map the segment again, which
// succeeds once the group is decided; when a driver comes, the task's
// units start on it with each segment once (no "segment named twice")
// and the task checkpoints through them.
func TestRestoreInDoubtIsBoundedAndRetriable(t *testing.T) {
	r := newUnitRig(t)
	g := inDoubtAfterCrash(t, r)
	cfg := r.config("task1")
	cfg.Unit.InDoubtWait = 100 * time.Millisecond
	var first error
	var step int64
	var units []string
	var stats Stats
	rr := startRestore(r, cfg, func(ctx context.Context, tk *Task) error {
		_, _, _, first = stampedSegments(ctx, tk)
		if !errors.Is(first, ErrInDoubt) {
			return first
		}
		if err := r.bank.Decide(ctx, g, true); err != nil {
			return err
		}
		words, p, st, err := stampedSegments(ctx, tk)
		if err == nil {
			step, err = checkStamped(words, p, st)
		}
		if err != nil {
			return err
		}
		r.serveCounter()
		r.host("a")
		stampAll(words, p, st, 3)
		if err := tk.Checkpoint(ctx); err != nil {
			return err
		}
		units = r.units()
		stats = tk.Stats()
		return nil
	})
	require.NoError(t, rr.wait(t))
	require.ErrorIs(t, first, ErrInDoubt)
	require.Equal(t, int64(2), step)
	require.Equal(t, 0, stats.Skipped, "the checkpoint ran through the units")
	require.ElementsMatch(t, []string{"b/task1", pager.UnitName("b/task1", "data"), pager.UnitName("b/task1", "progress"),
		pager.UnitName("b/task1", HeapSegment)}, units)
	require.Equal(t, 1, rr.logs.FilterMessageSnippet("restore gives up").Len())
}
