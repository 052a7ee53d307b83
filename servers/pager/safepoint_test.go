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
	names := []string{"prog", "data"}
	sizes := map[string]int{"prog": rvm.DefaultPageSize, "data": 16 * rvm.DefaultPageSize}
	r.serve(task, names...)
	app := r.client("app")
	segs := newSegs(t, 0, sizes, names...)
	pg, err := New(app, task, Options{}, segs...)
	require.NoError(t, err)
	const steps, stride = 2000, 64
	val := func(j int) byte { return byte(j%251 + 1) }

	sp := &rvm.SafePoint{Name: "task"}
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		prog, _ := rvm.View[struct{ Next uint64 }](segs[0], 0)
		data := segs[1].Bytes()
		for ; prog.Next < steps && ctx.Err() == nil; prog.Next++ {
			data[int(prog.Next)*stride] = val(int(prog.Next))
			sp.Poll() // a checkpoint may be taken here: Next and its byte go together
			time.Sleep(20 * time.Microsecond)
		}
	}()
	ckpts := 0
	for ckpts < 6 {
		time.Sleep(3 * time.Millisecond) // let the task run between checkpoints
		st, err := pg.CheckpointTask(r.ctx, sp, 5*time.Second)
		require.NoError(t, err)
		if st.Pages > 0 {
			ckpts++
		}
	}
	cancel() // the task dies between checkpoints
	<-done

	r.stopAll()
	r.serve(task, names...)
	app = r.client("app")
	segs = newSegs(t, 0, sizes, names...)
	pg, err = New(app, task, Options{}, segs...)
	require.NoError(t, err)
	require.NoError(t, pg.Restore(r.ctx))
	prog, err := rvm.View[struct{ Next uint64 }](segs[0], 0)
	require.NoError(t, err)
	next := int(prog.Next)
	require.Positive(t, next)
	data := segs[1].Bytes()
	for j := range steps {
		want := byte(0)
		if j < next {
			want = val(j)
		}
		if j == next && data[j*stride] == val(j) {
			continue // step Next was done before the safe point, and is redone (idempotent)
		}
		if data[j*stride] != want {
			t.Fatalf("step %d: byte %d, want %d (restored Next %d)", j, data[j*stride], want, next)
		}
	}
	t.Logf("restored at step %d of %d after %d checkpoints", next, steps, ckpts)
}
