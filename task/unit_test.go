package task

import (
	"context"
	"errors"
	"fmt"
	"github.com/ftm-in-go/ftm/stm/stmtest"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/servers/pager"
	"github.com/ftm-in-go/ftm/stm"
)

// stamps is a program's record of its steps, a stable object.
type stamps struct {
	Step  int64
	Entry int64 // how many times the program was entered (not rolled back: counted in Go memory too)
}

// stampedSegments maps the three segments of the §6.1 example (data,
// stack/progress, heap) and returns the data and progress views and the
// heap object.
func stampedSegments(ctx context.Context, t *Task) ([]uint64, *uint64, *stamps, error) {
	data, err := t.Segment(ctx, "data", 3*rvm.DefaultPageSize)
	if err != nil {
		return nil, nil, nil, err
	}
	prog, err := t.Segment(ctx, "progress", 64)
	if err != nil {
		return nil, nil, nil, err
	}
	words, err := rvm.Slice[uint64](data, 0, 3*rvm.DefaultPageSize/8)
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := rvm.View[uint64](prog, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := Object[stamps](ctx, t, "stamps")
	return words, p, st, err
}

// stampAll writes step into every page of data, the progress record and
// the heap object.
func stampAll(words []uint64, p *uint64, st *stamps, step int64) {
	for i := 0; i < len(words); i += rvm.DefaultPageSize / 8 {
		words[i] = uint64(step)
	}
	*p, st.Step = uint64(step), step
}

// checkStamped reports the one step every part carries, or an error.
func checkStamped(words []uint64, p *uint64, st *stamps) (int64, error) {
	for i := 0; i < len(words); i += rvm.DefaultPageSize / 8 {
		if int64(words[i]) != st.Step {
			return 0, errors.New("data and heap restored from different checkpoints")
		}
	}
	if int64(*p) != st.Step {
		return 0, errors.New("progress and heap restored from different checkpoints")
	}
	return st.Step, nil
}

// TestTaskIsFourRecoveryUnits runs a task with three segments as a
// recovery unit: its driver runs four units (the task's RU and one per
// segment); after the task stops mid-way (memory written after its last
// checkpoint is lost), a new run restores every segment and object from
// the units, as they were at that checkpoint.
func TestTaskIsFourRecoveryUnits(t *testing.T) {
	r := newUnitRig(t)
	r.host("a")
	errStop := errors.New("stopped")
	var units []string
	_, err := Run(r.ctx, r.config("task1"), func(ctx context.Context, tk *Task) error {
		words, p, st, err := stampedSegments(ctx, tk)
		if err != nil {
			return err
		}
		for step := int64(1); step <= 3; step++ {
			stampAll(words, p, st, step)
			if err := tk.Checkpoint(ctx); err != nil {
				return err
			}
		}
		units = r.units()
		stampAll(words, p, st, 4) // never checkpointed
		return errStop
	})
	require.ErrorIs(t, err, errStop)
	sort.Strings(units)
	require.Equal(t, []string{"b/task1", pager.UnitName("b/task1", "data"), pager.UnitName("b/task1", HeapSegment),
		pager.UnitName("b/task1", "progress")}, units)

	st, err := Run(r.ctx, r.config("task1"), func(ctx context.Context, tk *Task) error {
		words, p, obj, err := stampedSegments(ctx, tk)
		if err != nil {
			return err
		}
		step, err := checkStamped(words, p, obj)
		if err == nil && step != 3 {
			err = errors.New("not the last checkpoint")
		}
		return err
	})
	require.NoError(t, err)
	require.True(t, st.Restored)
}

// TestTaskRestoresFromTheBankWithoutADriver: a task whose bank runs no
// driver (no backup: the survivor of a takeover) restores its segments
// from the committed states of their units, read from the bank, and runs
// on with its checkpoints skipped.
func TestTaskRestoresFromTheBankWithoutADriver(t *testing.T) {
	r := newUnitRig(t)
	r.host("a")
	_, err := Run(r.ctx, r.config("task1"), func(ctx context.Context, tk *Task) error {
		words, p, st, err := stampedSegments(ctx, tk)
		if err != nil {
			return err
		}
		stampAll(words, p, st, 7)
		return tk.Checkpoint(ctx)
	})
	require.NoError(t, err)
	r.stopAll()
	r.takeover()
	st, err := Run(r.ctx, r.config("task1"), func(ctx context.Context, tk *Task) error {
		words, p, obj, err := stampedSegments(ctx, tk)
		if err != nil {
			return err
		}
		if step, err := checkStamped(words, p, obj); err != nil || step != 7 {
			return errors.Join(err, errors.New("not the last checkpoint"))
		}
		stampAll(words, p, obj, 8)
		return tk.Checkpoint(ctx)
	})
	require.ErrorIs(t, err, stm.ErrNoBackup, "no driver: the checkpoint is refused as for want of a backup")
	require.True(t, st.Restored)
	require.Equal(t, 1, st.Skipped)
}

// TestAbortRollsTheTaskBack: the task calls a reliable server through its
// client, then that server crashes (its unit restarts from the bank,
// aborting the RU the task depended on) before the task's checkpoint. The
// program handles nothing: the system restores its segments and objects
// to its last checkpoint, in place (a view taken before is still valid
// and shows the restored value), and re-enters it; in the end the server
// and the task agree on every step.
func TestAbortRollsTheTaskBack(t *testing.T) {
	r := newUnitRig(t)
	r.serveCounter()
	r.host("a")
	var entries int
	var firstView *stamps
	var lastStep int64
	crashed := false
	st, err := Run(r.ctx, r.config("task1"), func(ctx context.Context, tk *Task) error {
		entries++
		words, p, obj, err := stampedSegments(ctx, tk)
		if err != nil {
			return err
		}
		if firstView == nil {
			firstView = obj
		}
		if firstView != obj || firstView.Step != obj.Step {
			return errors.New("a view taken before the rollback is not the restored object")
		}
		for obj.Step < 5 {
			if _, err := counterAdd.Call(ctx, tk.Client(), 1); err != nil {
				return err
			}
			stampAll(words, p, obj, obj.Step+1)
			if obj.Step == 3 && !crashed { // the server dies before the checkpoint
				crashed = true
				r.stopHost("p")
				r.serveCounter()
			}
			if err := tk.Checkpoint(ctx); err != nil {
				return err
			}
		}
		lastStep = firstView.Step // the segments are unmapped when Run returns
		return nil
	})
	require.NoError(t, err)
	require.True(t, crashed)
	require.Equal(t, 2, entries, "re-entered once, by the system")
	require.Equal(t, 1, st.Rollbacks)
	require.EqualValues(t, 5, lastStep)
	r.stopHost("a")
	require.EqualValues(t, 5, r.counterValue(), "the server's updates of the aborted RU were rolled back with the task")
}

// TestObjectChecksItsType: a stable object is plain, and a name keeps
// its type.
func TestObjectChecksItsType(t *testing.T) {
	_, err := Run(context.Background(), Config{Name: "t"}, func(ctx context.Context, tk *Task) error {
		if _, err := Object[*int](ctx, tk, "p"); !errors.Is(err, rvm.ErrNotPlain) {
			return errors.Join(errors.New("a pointer object was not refused"), err)
		}
		a, err := Object[[4]int64](ctx, tk, "a")
		if err != nil {
			return err
		}
		a[2] = 9
		again, err := Object[[4]int64](ctx, tk, "a")
		if err != nil || again != a {
			return errors.Join(errors.New("the object is not found again by name"), err)
		}
		if _, err := Object[int32](ctx, tk, "a"); !errors.Is(err, ErrObjectType) {
			return errors.Join(errors.New("another type was not refused"), err)
		}
		b, err := Object[int64](ctx, tk, "b")
		if err != nil || b == &a[0] {
			return errors.Join(errors.New("two objects share memory"), err)
		}
		return nil
	})
	require.NoError(t, err)
}

// TestEndCommitsWithTheLastCheckpoint: a recovery-unit task's server dies
// just after the task completed — its last action (end recorded, pages
// dropped) committed, its end not recorded on its own (FPRecordEnd) — and
// the server that takes the bank over lists the task done, with its
// result, without running it again; no page of the task is left.
func TestEndCommitsWithTheLastCheckpoint(t *testing.T) {
	r := newUnitRig(t)
	r.host("a")
	var entries, pagesBefore atomic.Int32
	prog := func(ctx context.Context, tk *Task, args []string) (string, error) {
		entries.Add(1)
		words, p, st, err := stampedSegments(ctx, tk)
		if err != nil {
			return "", err
		}
		stampAll(words, p, st, 42)
		if err := tk.Checkpoint(ctx); err != nil {
			return "", err
		}
		pagesBefore.Store(int32(pageObjects(r.bank)))
		return "answer 42", nil
	}
	died := make(chan struct{})
	hook := func(point, _ string) error {
		if point == FPRecordEnd {
			close(died)
			return failpoint.ErrCrash
		}
		return nil
	}
	ctx1, stop1 := context.WithCancel(r.ctx)
	s1 := NewServer(ctx1, ServerConfig{Node: "n1", Programs: map[string]Program{"p": prog}, Units: r, Failpoint: hook, Logger: r.log})
	_, err := s1.Start(r.ctx, Bank{Name: rigBank, STM: r.bank}, "p", nil)
	require.NoError(t, err)
	select {
	case <-died:
	case <-time.After(20 * time.Second):
		t.Fatal("the task never completed")
	}
	stop1()
	s1.Wait()
	require.Equal(t, StateRunning, s1.List()[0].State, "the dead server recorded nothing more")
	r.stopAll()

	r.host("a")
	s2 := NewServer(r.ctx, ServerConfig{Node: "n2", Programs: map[string]Program{"p": prog}, Units: r, Logger: r.log})
	defer s2.Wait()
	s2.Resume(r.ctx, Bank{Name: rigBank, STM: r.bank})
	recs := s2.List()
	require.Len(t, recs, 1)
	require.Equal(t, StateDone, recs[0].State)
	require.Equal(t, "answer 42", recs[0].Result)
	require.EqualValues(t, 1, entries.Load(), "the completed task did not run again")
	require.Positive(t, pagesBefore.Load(), "its checkpoint kept page objects")
	require.Zero(t, pageObjects(r.bank), "its last action dropped its pages")
}

// pageObjects counts the pager's page objects (checksum and one page) in bank.
func pageObjects(b *stm.Bank) int {
	n := 0
	for id, v := range b.Dump() {
		if id >= stm.FirstAllocatedID && len(v) == 4+rvm.DefaultPageSize {
			n++
		}
	}
	return n
}

// TestDriverChangeUnderTheTask: the bank's driver is replaced while the
// task runs (its host stopped and started again, as a node does when a
// bank loses and regains its backup). A task that made no call since its
// last checkpoint carries on: its next checkpoint goes to the new driver
// and saves whole segments (its units restarted). A task that called a
// server since is rolled back by the system: that call's RU is gone.
func TestDriverChangeUnderTheTask(t *testing.T) {
	for _, calls := range []bool{false, true} {
		t.Run(fmt.Sprintf("calls=%v", calls), func(t *testing.T) {
			r := newUnitRig(t)
			r.serveCounter()
			r.host("a")
			entries, swapped := 0, false
			st, err := Run(r.ctx, r.config("task1"), func(ctx context.Context, tk *Task) error {
				entries++
				words, p, obj, err := stampedSegments(ctx, tk)
				if err != nil {
					return err
				}
				for obj.Step < 3 {
					if calls {
						if _, err := counterAdd.Call(ctx, tk.Client(), 1); err != nil {
							return err
						}
					}
					stampAll(words, p, obj, obj.Step+1)
					if obj.Step == 2 && !swapped {
						swapped = true
						r.stopHost("a")
						// As a node does when the bank regains its backup: a
						// driver stopped mid-commit of its tick leaves the
						// mirror broken (stm), and a new backup is attached.
						r.backup = stmtest.Protect(t, r.bank)
						r.host("a")
					}
					if err := tk.Checkpoint(ctx); err != nil {
						return err
					}
				}
				return nil
			})
			require.NoError(t, err)
			want := map[bool]int{false: 1, true: 2}[calls]
			require.Equal(t, want, entries)
			require.Equal(t, want-1, st.Rollbacks)
			if !calls { // 5 pages written per step; every page of the three segments after the change
				whole := 3 + 1 + DefaultHeapSize/rvm.DefaultPageSize
				require.Equal(t, 5+whole+5, st.PagesSaved, "the checkpoint after the change saves whole segments")
			}
			if calls {
				require.EqualValues(t, 3, r.counterValue(), "the call of the RU lost with the driver was rolled back")
			}
		})
	}
}

// TestClientUnwindsAnAbortedTask: the driver changes between two calls of
// the task (no checkpoint between them): Client does not return the new
// driver's client to a program whose RU is gone — it unwinds the program,
// which the system rolls back and re-enters; the server ends with the
// calls of the committed runs only.
func TestClientUnwindsAnAbortedTask(t *testing.T) {
	r := newUnitRig(t)
	r.serveCounter()
	r.host("a")
	entries, swapped := 0, false
	_, err := Run(r.ctx, r.config("task1"), func(ctx context.Context, tk *Task) error {
		entries++
		_, _, obj, err := stampedSegments(ctx, tk)
		if err != nil {
			return err
		}
		for obj.Step < 4 {
			if _, err := counterAdd.Call(ctx, tk.Client(), 1); err != nil {
				return err
			}
			obj.Step++
			if obj.Step == 3 && !swapped {
				swapped = true
				r.stopHost("a")
				// As a node does when the bank regains its backup: a driver
				// stopped mid-commit of its tick leaves the mirror broken
				// (stm), and a new backup is attached.
				r.backup = stmtest.Protect(t, r.bank)
				r.host("a")
				tk.Client() // never returns
				return errors.New("Client returned after the task's RU was lost")
			}
			if err := tk.Checkpoint(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 2, entries)
	require.EqualValues(t, 4, r.counterValue())
}
