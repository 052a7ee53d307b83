package pager

import (
	"context"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/stretchr/testify/require"
)

// A task computing in a loop with a safe point per step, checkpointed by
// the pager while it runs, then killed between checkpoints: the restored
// progress record ("prog") and data ("data", another segment and unit) come
// from the same checkpoint — every step below Next is there, none above it
// (step Next itself may be: it is written before the safe point, then redone).
func TestTaskCheckpointedAtSafePoints(t *testing.T) {
	r := newRig(t)
	pg, segs := startSteppingApp(t, r)
	sp := &rvm.SafePoint{Name: "task"}
	ctx, cancel := context.WithCancel(r.ctx)
	done := runSteps(ctx, segs, sp)
	ckpts := checkpointWhileStepping(t, r, pg, sp)
	cancel() // the task dies between checkpoints
	<-done

	r.stopAll()
	pg, segs = startSteppingApp(t, r)
	require.NoError(t, pg.Restore(r.ctx))
	next := checkStepsBelowNext(t, segs)
	t.Logf("restored at step %d of %d after %d checkpoints", next, steppingSteps, ckpts)
}

// The stepping task's shape: step j writes byte j*steppingStride of the
// data segment.
const steppingSteps, steppingStride = 2000, 64

// steppingSizes are its segments: the progress record and the data.
var steppingSizes = map[string]int{"prog": rvm.DefaultPageSize, "data": 16 * rvm.DefaultPageSize}

// stepValue is the byte step j writes (never 0).
func stepValue(j int) byte { return byte(j%251 + 1) }

// startSteppingApp serves the "prog" and "data" segment units and makes a
// pager over fresh segments for them.
func startSteppingApp(t *testing.T, r *rig) (*Pager, []*rvm.Segment) {
	names := []string{"prog", "data"}
	r.serve(task, names...)
	app := r.client("app")
	segs := newSegs(t, 0, steppingSizes, names...)
	pg, err := New(app, task, Options{}, segs...)
	require.NoError(t, err)
	return pg, segs
}

// runSteps runs the task until ctx ends or every step is done: each step
// writes its byte, polls the safe point, then advances Next. The returned
// channel closes when the task stops.
func runSteps(ctx context.Context, segs []*rvm.Segment, sp *rvm.SafePoint) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		prog, _ := rvm.View[struct{ Next uint64 }](segs[0], 0)
		data := segs[1].Bytes()
		for ; prog.Next < steppingSteps && ctx.Err() == nil; prog.Next++ {
			data[int(prog.Next)*steppingStride] = stepValue(int(prog.Next))
			sp.Poll() // a checkpoint may be taken here: Next and its byte go together
			time.Sleep(20 * time.Microsecond)
		}
	}()
	return done
}

// checkpointWhileStepping checkpoints the task at its safe points until six
// checkpoints saved pages, and returns that count.
func checkpointWhileStepping(t *testing.T, r *rig, pg *Pager, sp *rvm.SafePoint) int {
	ckpts := 0
	for ckpts < 6 {
		time.Sleep(3 * time.Millisecond) // let the task run between checkpoints
		st, err := pg.CheckpointTask(r.ctx, sp, 5*time.Second)
		require.NoError(t, err)
		if st.Pages > 0 {
			ckpts++
		}
	}
	return ckpts
}

// checkStepsBelowNext checks the restored data holds every step below the
// restored Next and none above it (step Next itself may be there), and
// returns Next.
func checkStepsBelowNext(t *testing.T, segs []*rvm.Segment) int {
	prog, err := rvm.View[struct{ Next uint64 }](segs[0], 0)
	require.NoError(t, err)
	next := int(prog.Next)
	require.Positive(t, next)
	data := segs[1].Bytes()
	for j := range steppingSteps {
		want := byte(0)
		if j < next {
			want = stepValue(j)
		}
		if j == next && data[j*steppingStride] == stepValue(j) {
			continue // step Next was done before the safe point, and is redone (idempotent)
		}
		if data[j*steppingStride] != want {
			t.Fatalf("step %d: byte %d, want %d (restored Next %d)", j, data[j*steppingStride], want, next)
		}
	}
	return next
}
