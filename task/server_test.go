package task

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// sum adds 1..n in a segment, one Poll per step: a stand-in for a program.
func sum(ctx context.Context, t *Task, args []string) (string, error) {
	var n int64
	if _, err := fmt.Sscan(args[0], &n); err != nil {
		return "", err
	}
	seg, err := t.Segment(ctx, "state", 64)
	if err != nil {
		return "", err
	}
	st, err := rvm.View[struct{ I, Sum int64 }](seg, 0)
	if err != nil {
		return "", err
	}
	for st.I < n {
		st.I++
		st.Sum += st.I
		t.Progress(st.I, n)
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if err := t.Poll(ctx); err != nil {
			return "", err
		}
	}
	return fmt.Sprint(st.Sum), nil
}

func waitState(t *testing.T, s *Server, want string) Record {
	t.Helper()
	var rec Record
	require.Eventually(t, func() bool {
		l := s.List()
		if len(l) == 0 {
			return false
		}
		rec = l[0]
		return rec.State == want
	}, 20*time.Second, 5*time.Millisecond)
	return rec
}

func TestServerRunsTaskToCompletion(t *testing.T) {
	bank, _ := stmtest.Mirrored(t)
	s := NewServer(context.Background(), ServerConfig{Node: "n", Programs: map[string]Program{"sum": sum}, Policy: Policy{Percent: 10}, Logger: zaptest.NewLogger(t)})
	_, err := s.Start(context.Background(), Bank{Name: "n", STM: bank}, "nothing", nil)
	require.ErrorIs(t, err, ErrUnknownProgram)
	rec, err := s.Start(context.Background(), Bank{Name: "n", STM: bank}, "sum", []string{"1000"})
	require.NoError(t, err)
	require.Equal(t, uint64(1), rec.ID)
	done := waitState(t, s, StateDone)
	require.Equal(t, "500500", done.Result)
	require.Equal(t, 11, done.Stats.Checkpoints)
	s.Wait()
	var recs []Record
	require.NoError(t, bank.View(context.Background(), func(tx *stm.Tx) error {
		var err error
		recs, err = taskTable.Get(tx)
		return err
	}))
	require.Equal(t, StateDone, recs[0].State, "the end is recorded in STM")
}

// Reference: §2.2, §4.3 — the node running a stable task dies; its backup
// bank is taken over and the task server restarts the task there from its
// last checkpoint; it finishes with the right result, having redone only the
// work since that checkpoint.
func TestServerRestartsTasksAfterTakeover(t *testing.T) {
	bank, backup := stmtest.Mirrored(t)
	ctx, crash := context.WithCancel(context.Background())
	s := NewServer(ctx, ServerConfig{Node: "a", Programs: map[string]Program{"sum": sum}, Policy: Policy{Percent: 1}, Logger: zaptest.NewLogger(t)})
	_, err := s.Start(context.Background(), Bank{Name: "a", STM: bank}, "sum", []string{"2000000"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return s.List()[0].Stats.Checkpoints >= 3 }, 20*time.Second, time.Millisecond)
	crash() // node a dies
	s.Wait()

	survivor := stmtest.Survivor(t, backup) // re-protected
	s2 := NewServer(context.Background(), ServerConfig{Node: "b", Programs: map[string]Program{"sum": sum}, Policy: Policy{Percent: 1}, Logger: zaptest.NewLogger(t)})
	s2.Resume(context.Background(), Bank{Name: "a", STM: survivor})
	done := waitState(t, s2, StateDone)
	require.Equal(t, fmt.Sprint(int64(2000000)*2000001/2), done.Result)
	require.Equal(t, 1, done.Restarts)
	require.Equal(t, "b", done.Node)
	s2.Wait()
}

func TestTaskRunsUnprotectedWithoutBackup(t *testing.T) {
	bank := stm.NewBank(stm.Config{}) // no backup attached: every commit is refused
	st, err := Run(context.Background(), Config{Name: "x", Store: rvm.NewSTMStore(bank), Policy: Policy{Percent: 25}, Logger: zaptest.NewLogger(t)},
		func(ctx context.Context, tk *Task) error {
			_, err := sum(ctx, tk, []string{"100"})
			return err
		})
	require.NoError(t, err)
	require.Equal(t, 5, st.Skipped, "the due checkpoints and the final one were skipped, the task went on")
}

// Reference: fencing (pair doc.go) — a task whose bank is closed
// under it (the partner's copy won) stops at its next checkpoint and is
// forgotten: nothing is recorded as failed.
func TestServerForgetsTaskWhoseBankWasClosed(t *testing.T) {
	bank, _ := stmtest.Mirrored(t)
	s := NewServer(context.Background(), ServerConfig{Node: "n", Programs: map[string]Program{"sum": sum}, Policy: Policy{Percent: 1}, Logger: zaptest.NewLogger(t)})
	_, err := s.Start(context.Background(), Bank{Name: "n", STM: bank}, "sum", []string{"100000000"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return s.List()[0].Stats.Checkpoints >= 1 }, 20*time.Second, time.Millisecond)
	require.NoError(t, bank.Close())
	require.Eventually(t, func() bool { return len(s.List()) == 0 }, 20*time.Second, time.Millisecond)
	s.Wait()
	require.Zero(t, s.Abandon(bank), "nothing left to abandon")
}

// Reference: fencing — a task that ended while its node was cut off (its
// end unrecorded: no backup) is forgotten too when its bank is superseded;
// the partner's copy is the one that counts.
func TestAbandonForgetsEndedTasksOfTheBank(t *testing.T) {
	bank, _ := stmtest.Mirrored(t)
	other, _ := stmtest.Mirrored(t)
	s := NewServer(context.Background(), ServerConfig{Node: "n", Programs: map[string]Program{"sum": sum}, Policy: Policy{Percent: 50}, Logger: zaptest.NewLogger(t)})
	_, err := s.Start(context.Background(), Bank{Name: "n", STM: bank}, "sum", []string{"10"})
	require.NoError(t, err)
	_, err = s.Start(context.Background(), Bank{Name: "m", STM: other}, "sum", []string{"10"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		l := s.List()
		return len(l) == 2 && l[0].State == StateDone && l[1].State == StateDone
	}, 20*time.Second, time.Millisecond)
	require.Equal(t, 1, s.Abandon(bank))
	l := s.List()
	require.Len(t, l, 1)
	require.Equal(t, "m", l[0].Bank, "only the superseded bank's task is forgotten")
	s.Wait()
}

// Reference: §4.3 — a stable task's result outlives its node: tasks that
// ended (one done, one failed) before their node died are listed by the
// survivor that took their bank over, with their results, and are not run
// again; a superseded bank takes them off the list.
func TestResumeListsTasksThatEndedBeforeTheTakeover(t *testing.T) {
	bank, backup := stmtest.Mirrored(t)
	ctx, crash := context.WithCancel(context.Background())
	s := NewServer(ctx, ServerConfig{Node: "a", Programs: map[string]Program{"sum": sum}, Policy: Policy{Percent: 50}, Logger: zaptest.NewLogger(t)})
	for _, arg := range []string{"1000", "not-a-number"} {
		_, err := s.Start(context.Background(), Bank{Name: "a", STM: bank}, "sum", []string{arg})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		l := s.List()
		return len(l) == 2 && l[0].State == StateDone && l[1].State == StateFailed
	}, 20*time.Second, time.Millisecond)
	var recs []Record
	require.NoError(t, bank.View(context.Background(), func(tx *stm.Tx) error {
		var err error
		recs, err = taskTable.Get(tx)
		return err
	}))
	require.Equal(t, []string{StateDone, StateFailed}, []string{recs[0].State, recs[1].State},
		"a task is listed as ended once its end is committed")
	crash() // node a dies
	s.Wait()

	survivor := stmtest.Survivor(t, backup)
	s2 := NewServer(context.Background(), ServerConfig{Node: "b", Programs: map[string]Program{"sum": sum}, Policy: Policy{Percent: 50}, Logger: zaptest.NewLogger(t)})
	s2.Resume(context.Background(), Bank{Name: "a", STM: survivor})
	l := s2.List()
	require.Len(t, l, 2, "the ended tasks are listed on the survivor")
	require.Equal(t, StateDone, l[0].State)
	require.Equal(t, "500500", l[0].Result)
	require.Equal(t, StateFailed, l[1].State)
	require.NotEmpty(t, l[1].Error)
	for _, r := range l {
		require.Equal(t, "a", r.Bank)
		require.Equal(t, "b", r.Node)
		require.Zero(t, r.Restarts, "an ended task is not run again")
	}
	require.Equal(t, 2, s2.Abandon(survivor))
	require.Empty(t, s2.List(), "a superseded bank's ended tasks are forgotten")
	s2.Wait()
}

// Reference: §4.3 — a task restarted by a takeover and finished there is
// listed with the same restart count after its bank is taken over again.
func TestResumeListsTheRestartsOfAnEndedTask(t *testing.T) {
	bank, backup := stmtest.Mirrored(t)
	ctx, crash := context.WithCancel(context.Background())
	s := NewServer(ctx, ServerConfig{Node: "a", Programs: map[string]Program{"sum": sum}, Policy: Policy{Percent: 1}, Logger: zaptest.NewLogger(t)})
	_, err := s.Start(context.Background(), Bank{Name: "a", STM: bank}, "sum", []string{"2000000"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return s.List()[0].Stats.Checkpoints >= 3 }, 20*time.Second, time.Millisecond)
	crash() // node a dies mid-run
	s.Wait()

	survivor := stmtest.Takeover(t, backup)
	backup2 := stmtest.Protect(t, survivor)
	ctx2, crash2 := context.WithCancel(context.Background())
	s2 := NewServer(ctx2, ServerConfig{Node: "b", Programs: map[string]Program{"sum": sum}, Policy: Policy{Percent: 1}, Logger: zaptest.NewLogger(t)})
	s2.Resume(context.Background(), Bank{Name: "a", STM: survivor})
	done := waitState(t, s2, StateDone)
	require.Equal(t, 1, done.Restarts)
	crash2() // node b dies after the task finished there
	s2.Wait()

	s3 := NewServer(context.Background(), ServerConfig{Node: "c", Programs: map[string]Program{"sum": sum}, Logger: zaptest.NewLogger(t)})
	s3.Resume(context.Background(), Bank{Name: "a", STM: stmtest.Survivor(t, backup2)})
	l := s3.List()
	require.Len(t, l, 1)
	require.Equal(t, StateDone, l[0].State)
	require.Equal(t, done.Result, l[0].Result)
	require.Equal(t, 1, l[0].Restarts, "the restart by the first takeover is recorded with the end")
}

// An operator removes an ended task: it is gone from the listing and
// from its bank (a takeover does not bring it back), and its id is not
// reused. A running task, or one not listed, is not removed.
func TestRemoveDeletesAnEndedTaskFromItsBank(t *testing.T) {
	bank, backup := stmtest.Mirrored(t)
	ctx, crash := context.WithCancel(context.Background())
	s := NewServer(ctx, ServerConfig{Node: "a", Programs: map[string]Program{"sum": sum}, Policy: Policy{Percent: 50}, Logger: zaptest.NewLogger(t)})
	for _, arg := range []string{"10", "100000000", "20"} {
		_, err := s.Start(context.Background(), Bank{Name: "a", STM: bank}, "sum", []string{arg})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		l := s.List()
		return len(l) == 3 && l[0].State == StateDone && l[2].State == StateDone
	}, 20*time.Second, time.Millisecond)
	_, err := s.Remove(context.Background(), "a", 2)
	require.ErrorIs(t, err, ErrStillRunning)
	_, err = s.Remove(context.Background(), "a", 9)
	require.ErrorIs(t, err, ErrNoTask)
	rec, err := s.Remove(context.Background(), "a", 3)
	require.NoError(t, err)
	require.Equal(t, "210", rec.Result)
	l := s.List()
	require.Len(t, l, 2)
	require.Equal(t, []uint64{1, 2}, []uint64{l[0].ID, l[1].ID})
	rec, err = s.Start(context.Background(), Bank{Name: "a", STM: bank}, "sum", []string{"5"})
	require.NoError(t, err)
	require.Equal(t, uint64(4), rec.ID, "a removed task's id is not reused")
	require.Eventually(t, func() bool { return len(s.List()) == 3 && s.List()[2].State == StateDone }, 20*time.Second, time.Millisecond)
	crash()
	s.Wait()

	ctx2, stop2 := context.WithCancel(context.Background())
	s2 := NewServer(ctx2, ServerConfig{Node: "b", Programs: map[string]Program{"sum": sum}, Logger: zaptest.NewLogger(t)})
	s2.Resume(context.Background(), Bank{Name: "a", STM: stmtest.Survivor(t, backup)})
	var ids []uint64
	for _, r := range s2.List() {
		ids = append(ids, r.ID)
	}
	require.Equal(t, []uint64{1, 2, 4}, ids, "the removed task stays removed after a takeover")
	stop2()
	s2.Wait()
}
