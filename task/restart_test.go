package task

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// halfway sums 1..n in a segment, checkpointing halfway, and panics past
// that point in its first panics runs; from gets the step each run starts
// from (0, or the checkpoint's after a restore).
func halfway(panics int, from chan<- int64) Program {
	var runs atomic.Int32
	return func(ctx context.Context, t *Task, args []string) (string, error) {
		n, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil {
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
		from <- st.I
		run := int(runs.Add(1))
		for st.I < n {
			st.I++
			st.Sum += st.I
			if st.I == n/2 {
				if err := t.Checkpoint(ctx); err != nil {
					return "", err
				}
			}
			if st.I >= n/2 && run <= panics {
				panic(fmt.Sprintf("halfway, run %d", run))
			}
		}
		return fmt.Sprint(st.Sum), nil
	}
}

// startHalfway runs halfway(panics) with the restart policy restart (none
// when nil) on a mirrored bank and returns its end, its record in STM and
// the steps its runs started from.
func startHalfway(t *testing.T, panics int, restart *Restart) (Record, Record, []int64) {
	bank, _ := stmtest.Mirrored(t)
	from := make(chan int64, 16)
	cfg := ServerConfig{Node: "n", Programs: map[string]Program{"half": halfway(panics, from)}, Logger: zaptest.NewLogger(t)}
	if restart != nil {
		cfg.Restart = map[string]Restart{"half": *restart}
	}
	s := NewServer(context.Background(), cfg)
	_, err := s.Start(context.Background(), Bank{Name: "n", STM: bank}, "half", []string{"1000"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { l := s.List(); return len(l) == 1 && l[0].State != StateRunning },
		20*time.Second, time.Millisecond)
	s.Wait()
	close(from)
	var starts []int64
	for i := range from {
		starts = append(starts, i)
	}
	var recs []Record
	require.NoError(t, bank.View(context.Background(), func(tx *stm.Tx) error {
		recs, err = taskTable.Get(tx)
		return err
	}))
	require.Len(t, recs, 1)
	return s.List()[0], recs[0], starts
}

// A program that panics on its first run only is restarted once, from the
// progress of its last checkpoint (not from zero), and finishes with the
// right result; the restart is counted in its record in STM.
func TestPanickedTaskRestartsFromItsLastCheckpoint(t *testing.T) {
	end, stored, starts := startHalfway(t, 1, &Restart{Max: 3})
	require.Equal(t, StateDone, end.State, end.Error)
	require.Equal(t, "500500", end.Result)
	require.Equal(t, []int64{0, 500}, starts, "the restart resumed from the checkpoint halfway")
	require.True(t, end.Stats.Restored)
	require.Equal(t, 1, end.Restarts)
	require.Equal(t, 1, end.PanicRestarts)
	require.Equal(t, StateDone, stored.State)
	require.Equal(t, 1, stored.Restarts, "the restart is committed in the task table")
	require.Equal(t, 1, stored.PanicRestarts)
}

// A program that always panics is restarted Max times, each after the
// backoff and from the same checkpoint (the work after it is lost), and
// then fails with its last panic, recorded in STM.
func TestAlwaysPanickingTaskFailsAfterMaxRestarts(t *testing.T) {
	began := time.Now()
	end, stored, starts := startHalfway(t, 100, &Restart{Max: 2, Backoff: 20 * time.Millisecond})
	require.GreaterOrEqual(t, time.Since(began), 40*time.Millisecond, "two backoffs")
	require.Equal(t, StateFailed, end.State)
	require.Contains(t, end.Error, ErrPanicked.Error())
	require.Contains(t, end.Error, "halfway, run 3", "the last panic is the one recorded")
	require.Equal(t, []int64{0, 500, 500}, starts)
	require.Equal(t, 2, end.Restarts)
	require.Equal(t, StateFailed, stored.State)
	require.Contains(t, stored.Error, "halfway, run 3")
	require.Equal(t, 2, stored.Restarts)
}

// By default a panic is not restarted: the task fails at once.
func TestPanicNotRestartedByDefault(t *testing.T) {
	end, stored, starts := startHalfway(t, 1, nil)
	require.Equal(t, StateFailed, end.State)
	require.Contains(t, end.Error, "halfway, run 1")
	require.Equal(t, []int64{0}, starts)
	require.Zero(t, end.Restarts)
	require.Equal(t, StateFailed, stored.State)
	require.Zero(t, stored.Restarts)
}

// Only a panic restarts a task: a program returning an error has failed,
// whatever its restart policy.
func TestFailedTaskIsNotRestarted(t *testing.T) {
	bank, _ := stmtest.Mirrored(t)
	var runs atomic.Int32
	fail := func(context.Context, *Task, []string) (string, error) {
		runs.Add(1)
		return "", errors.New("no such input")
	}
	s := NewServer(context.Background(), ServerConfig{Node: "n", Programs: map[string]Program{"fail": fail},
		Restart: map[string]Restart{"fail": {Max: 3}}, Logger: zaptest.NewLogger(t)})
	_, err := s.Start(context.Background(), Bank{Name: "n", STM: bank}, "fail", nil)
	require.NoError(t, err)
	end := waitState(t, s, StateFailed)
	s.Wait()
	require.Equal(t, "no such input", end.Error)
	require.Zero(t, end.Restarts)
	require.Equal(t, int32(1), runs.Load())
}

// The count of restarts after a panic is kept in the task's record, so a
// takeover does not renew it: a task restarted once (Max 1) on node a and
// resumed on b after a dies fails at its next panic there.
func TestTakeoverKeepsPanicRestartCount(t *testing.T) {
	bank, backup := stmtest.Mirrored(t)
	ctx, crash := context.WithCancel(context.Background())
	first := halfway(1, make(chan int64, 16))
	var runs atomic.Int32
	onA := func(ctx context.Context, tk *Task, args []string) (string, error) {
		if runs.Add(1) == 1 {
			return first(ctx, tk, args) // panics halfway
		}
		<-ctx.Done() // restarted: runs until a dies
		return "", ctx.Err()
	}
	policy := map[string]Restart{"half": {Max: 1}}
	a := NewServer(ctx, ServerConfig{Node: "a", Programs: map[string]Program{"half": onA}, Restart: policy, Logger: zaptest.NewLogger(t)})
	_, err := a.Start(context.Background(), Bank{Name: "a", STM: bank}, "half", []string{"1000"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return runs.Load() == 2 }, 20*time.Second, time.Millisecond)
	crash() // node a dies
	a.Wait()

	from := make(chan int64, 16)
	b := NewServer(context.Background(), ServerConfig{Node: "b", Programs: map[string]Program{"half": halfway(100, from)},
		Restart: policy, Logger: zaptest.NewLogger(t)})
	b.Resume(context.Background(), Bank{Name: "a", STM: stmtest.Survivor(t, backup)})
	end := waitState(t, b, StateFailed)
	b.Wait()
	require.Contains(t, end.Error, "halfway, run 1")
	require.Equal(t, 2, end.Restarts, "one after the panic on a, one for the takeover")
	require.Equal(t, 1, end.PanicRestarts)
	close(from)
	var starts []int64
	for i := range from {
		starts = append(starts, i)
	}
	require.Equal(t, []int64{500}, starts, "b ran it once, from the checkpoint, and did not restart it")
}
