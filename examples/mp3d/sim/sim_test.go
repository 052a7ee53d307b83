package sim

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/task"
)

var small = Job{Molecules: 2000, Steps: 60, Seed: 7}

func compute(t *testing.T, store rvm.PageStore, pol task.Policy, job Job) (Result, task.Stats, error) {
	t.Helper()
	var r Result
	st, err := task.Run(context.Background(), task.Config{Name: "mp3d", Store: store, Policy: pol},
		func(ctx context.Context, tk *task.Task) error {
			var err error
			r, err = Compute(ctx, tk, job)
			return err
		})
	return r, st, err
}

// memBatch makes a MemStore a BatchStore (segment by segment).
type memBatch struct{ *rvm.MemStore }

func (m memBatch) SaveBatch(ctx context.Context, b []rvm.SegmentPages) error {
	for _, sp := range b {
		if err := m.SavePages(ctx, sp.Segment, sp.NPages, sp.Pages); err != nil {
			return err
		}
	}
	return nil
}

// failingStore fails its n-th save: the machine dies during that checkpoint.
type failingStore struct {
	rvm.BatchStore
	n, saves int
}

var errDied = errors.New("node died during the checkpoint")

func (f *failingStore) SaveBatch(ctx context.Context, b []rvm.SegmentPages) error {
	f.saves++
	if f.saves == f.n {
		return errDied
	}
	return f.BatchStore.SaveBatch(ctx, b)
}

// Reference: §6.3 — checkpointing does not change what mp3d computes: the
// run with checkpoints ends in the same state, bit for bit, as the run
// without fault tolerance, and every checkpoint saves almost the whole
// working set (every step writes every molecule and cell).
func TestCheckpointsDoNotChangeTheResult(t *testing.T) {
	plain, st, err := compute(t, nil, task.Policy{}, small)
	require.NoError(t, err)
	require.Zero(t, st.Checkpoints)
	require.NotZero(t, plain.Collisions, "molecules collide")
	require.NotZero(t, plain.Reentries, "molecules leave downstream and re-enter")

	ft, st, err := compute(t, memBatch{rvm.NewMemStore()}, task.Policy{Percent: 10}, small)
	require.NoError(t, err)
	require.Equal(t, plain, ft)
	require.GreaterOrEqual(t, st.Checkpoints, 10)
	molPages := (int(small.Molecules)*molSize + rvm.DefaultPageSize - 1) / rvm.DefaultPageSize
	require.GreaterOrEqual(t, st.PagesSaved, st.Checkpoints*molPages, "each checkpoint saves every molecule page")
}

// Reference: §6.3 with §4.3 — the run dies during its fourth checkpoint,
// is started again, resumes from the third, and ends bit-identical to a
// run that never stopped.
func TestResumedRunIsBitIdentical(t *testing.T) {
	plain, _, err := compute(t, nil, task.Policy{}, small)
	require.NoError(t, err)

	store := rvm.NewMemStore()
	_, st, err := compute(t, &failingStore{BatchStore: memBatch{store}, n: 4}, task.Policy{Percent: 10}, small)
	require.ErrorIs(t, err, errDied)
	require.Equal(t, 3, st.Checkpoints)

	again, st, err := compute(t, memBatch{store}, task.Policy{Percent: 10}, small)
	require.NoError(t, err)
	require.True(t, st.Restored)
	require.Equal(t, plain, again)
}

func TestRestoredRunRefusesAnotherJob(t *testing.T) {
	store := rvm.NewMemStore()
	_, _, err := compute(t, &failingStore{BatchStore: memBatch{store}, n: 2}, task.Policy{Percent: 10}, small)
	require.ErrorIs(t, err, errDied)
	other := small
	other.Seed++
	_, _, err = compute(t, memBatch{store}, task.Policy{Percent: 10}, other)
	require.ErrorIs(t, err, ErrOtherJob)
}

func TestSeedsGiveDifferentRuns(t *testing.T) {
	a, _, err := compute(t, nil, task.Policy{}, small)
	require.NoError(t, err)
	other := small
	other.Seed++
	b, _, err := compute(t, nil, task.Policy{}, other)
	require.NoError(t, err)
	require.NotEqual(t, a.Checksum, b.Checksum)
}

// A collision keeps the pair's momentum and energy.
func TestCollisionConservesMomentumAndEnergy(t *testing.T) {
	rng := uint64(3)
	for range 1000 {
		a, b := molecule{}, molecule{}
		reservoir(&a, &rng)
		reservoir(&b, &rng)
		p0 := [3]float64{a.U + b.U, a.V + b.V, a.W + b.W}
		e0 := a.U*a.U + a.V*a.V + a.W*a.W + b.U*b.U + b.V*b.V + b.W*b.W
		collidePair(&a, &b, &rng)
		require.InDeltaSlice(t, p0[:], []float64{a.U + b.U, a.V + b.V, a.W + b.W}, 1e-12)
		require.InDelta(t, e0, a.U*a.U+a.V*a.V+a.W*a.W+b.U*b.U+b.V*b.V+b.W*b.W, 1e-12)
	}
}

// Molecules stay inside the tunnel, in the cell their position says.
func TestMoleculesStayInTheTunnel(t *testing.T) {
	mols, cells, st := make([]molecule, 3000), make([]cell, numCells), &state{RNG: 5}
	place(mols, &st.RNG)
	for range 100 {
		step(mols, cells, st)
	}
	for _, m := range mols {
		require.True(t, m.X >= 0 && m.X < nx && m.Y >= 0 && m.Y < ny && m.Z >= 0 && m.Z < nz, "%+v", m)
		require.Equal(t, cellOf(&m), m.Cell)
		require.False(t, math.IsNaN(m.U+m.V+m.W))
	}
	var placed int32
	for _, c := range cells {
		placed += c.Count
	}
	require.EqualValues(t, len(mols), placed, "every molecule placed in one cell in the last step")
}

func TestParseJob(t *testing.T) {
	job, err := ParseJob(nil)
	require.NoError(t, err)
	require.Equal(t, Job{Molecules: DefaultMolecules, Steps: DefaultSteps, Seed: DefaultSeed}, job)
	job, err = ParseJob([]string{"30000", "100", "9"})
	require.NoError(t, err)
	require.Equal(t, Job{Molecules: 30000, Steps: 100, Seed: 9}, job)
	for _, bad := range [][]string{{"abc"}, {"0"}, {"10", "-1"}, {"10", "10", "x"}, {"1", "2", "3", "4"}, {"99999999"}} {
		_, err := ParseJob(bad)
		require.Error(t, err, "%q", bad)
		require.Error(t, Args.Check(bad))
	}
}
