package sim

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/task"
)

// Job is what a run computes: how many molecules, for how many time
// steps, from which seed.
type Job struct {
	Molecules int64
	Steps     int64
	Seed      uint64
}

// molecule is one simulated molecule: its position in cell units, its
// velocity in cells per step, its cell and how many collisions it had.
type molecule struct {
	X, Y, Z    float64
	U, V, W    float64
	Cell       int32
	Collisions int32
}

// cell is one space cell: the molecules placed in it this step, the last
// of them (index+1; 0: none yet), and the samples accumulated over the
// run (momentum and energy of the molecules that passed, collisions).
type cell struct {
	Count      int32
	Last       int32
	Collisions uint64
	SumU       float64
	SumV       float64
	SumW       float64
	SumE       float64
}

// state is the run's progress record, in its own segment.
type state struct {
	Step       uint64 // steps done
	RNG        uint64 // the random source
	Ready      uint64 // 1 once the molecules are placed
	Collisions uint64 // over the run
	Reentries  uint64 // molecules that left downstream and re-entered
}

// ErrOtherJob is returned when a restored run was started for another job
// than the one its checkpoint was taken for.
var ErrOtherJob = errors.New("mp3d: the checkpoint is of another job")

// ErrBadJob is returned for a job with no molecules or no steps.
var ErrBadJob = errors.New("mp3d: bad job")

// Result is what a run ends with.
type Result struct {
	Checksum   uint64 // FNV-1a 64 of the molecules, the cells and the state
	Collisions uint64
	Reentries  uint64
}

// String is the result as the program reports it.
func (r Result) String() string {
	return fmt.Sprintf("checksum %016x, collisions %d, re-entries %d", r.Checksum, r.Collisions, r.Reentries)
}

// memory is the simulation's mapped segments.
type memory struct {
	mols      []molecule
	cells     []cell
	st        *state
	molSeg    *rvm.Segment
	cellSeg   *rvm.Segment
	stateSeg  *rvm.Segment
	molBytes  int
	cellBytes int
}

// Compute runs job in t's segments, polling for a checkpoint after every
// step and telling the policy its progress in steps, and returns the
// final state's checksum. Restored from a checkpoint it goes on from the
// step it was taken at.
func Compute(ctx context.Context, t *task.Task, job Job) (Result, error) {
	if job.Molecules < 1 || job.Steps < 1 {
		return Result{}, fmt.Errorf("%w: %d molecules, %d steps", ErrBadJob, job.Molecules, job.Steps)
	}
	m, err := mapMemory(ctx, t, job)
	if err != nil {
		return Result{}, err
	}
	if m.st.Ready == 0 {
		m.st.RNG = job.Seed
		place(m.mols, &m.st.RNG)
		m.st.Ready = 1
	}
	for m.st.Step < uint64(job.Steps) {
		step(m.mols, m.cells, m.st)
		m.st.Step++
		t.Progress(int64(m.st.Step), job.Steps)
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		if err := t.Poll(ctx); err != nil {
			return Result{}, err
		}
	}
	return Result{Checksum: m.checksum(), Collisions: m.st.Collisions, Reentries: m.st.Reentries}, nil
}

// mapMemory maps the segments and checks the job in the heap.
func mapMemory(ctx context.Context, t *task.Task, job Job) (*memory, error) {
	m := &memory{molBytes: int(job.Molecules) * molSize, cellBytes: numCells * cellSize}
	var err error
	if m.molSeg, err = t.Segment(ctx, "molecules", m.molBytes); err != nil {
		return nil, err
	}
	if m.cellSeg, err = t.Segment(ctx, "cells", m.cellBytes); err != nil {
		return nil, err
	}
	if m.stateSeg, err = t.Segment(ctx, "state", 64); err != nil {
		return nil, err
	}
	if m.mols, err = rvm.Slice[molecule](m.molSeg, 0, int(job.Molecules)); err != nil {
		return nil, err
	}
	if m.cells, err = rvm.Slice[cell](m.cellSeg, 0, numCells); err != nil {
		return nil, err
	}
	if m.st, err = rvm.View[state](m.stateSeg, 0); err != nil {
		return nil, err
	}
	j, err := task.Object[Job](ctx, t, "job")
	if err != nil {
		return nil, err
	}
	switch {
	case j.Molecules == 0:
		*j = job
	case *j != job:
		return nil, fmt.Errorf("%w: %+v, asked %+v", ErrOtherJob, *j, job)
	}
	return m, nil
}

// checksum is FNV-1a 64 over the bytes of the molecules, the cells and
// the state: the whole simulated state.
func (m *memory) checksum() uint64 {
	h := fnv.New64a()
	_, _ = h.Write(m.molSeg.Bytes()[:m.molBytes])
	_, _ = h.Write(m.cellSeg.Bytes()[:m.cellBytes])
	_, _ = h.Write(m.stateSeg.Bytes()[:stateSize])
	return h.Sum64()
}
