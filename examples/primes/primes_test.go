package main

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/examples/primes/sieve"
	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/task"
)

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

func compute(t *testing.T, store rvm.PageStore, n int) (uint32, task.Stats, error) {
	t.Helper()
	var nth uint32
	st, err := task.Run(context.Background(), task.Config{Name: "primes", Store: store, Policy: task.Policy{PowerOfTwo: true}},
		func(ctx context.Context, tk *task.Task) error {
			var err error
			nth, err = sieve.Compute(ctx, tk, n, true)
			return err
		})
	return nth, st, err
}

func TestPrimesWithoutFaultTolerance(t *testing.T) {
	nth, st, err := compute(t, nil, 10000)
	require.NoError(t, err)
	require.Equal(t, uint32(104729), nth)
	require.Zero(t, st.Checkpoints)
}

// Reference: §6.2 — the computation dies during its fourth checkpoint, is
// started again, resumes from the third, and prints the right prime.
func TestPrimesResumeAfterDyingMidCheckpoint(t *testing.T) {
	store := rvm.NewMemStore()
	wrapped := &failingStore{BatchStore: memBatch{store}, n: 4}
	_, st, err := compute(t, wrapped, 10000)
	require.ErrorIs(t, err, errDied)
	require.Equal(t, 3, st.Checkpoints)

	nth, st, err := compute(t, store, 10000)
	require.NoError(t, err)
	require.True(t, st.Restored)
	require.Equal(t, uint32(104729), nth)
}

func TestBothMethodsAgree(t *testing.T) {
	for _, byPrimes := range []bool{true, false} {
		st, err := task.Run(context.Background(), task.Config{Name: "p"}, func(ctx context.Context, tk *task.Task) error {
			nth, err := sieve.Compute(ctx, tk, 2000, byPrimes)
			require.Equal(t, uint32(17389), nth)
			return err
		})
		require.NoError(t, err)
		require.Zero(t, st.Checkpoints)
	}
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

func TestRunRejectsBadFlags(t *testing.T) {
	o := options{n: 100, policy: "percent", percent: 10, backup: "local", byPrimes: true}
	bad := func(f func(*options)) options { c := o; f(&c); return c }
	require.ErrorContains(t, run(bad(func(o *options) { o.n = 0 })), "at least 1")
	require.ErrorContains(t, run(bad(func(o *options) { o.policy = "sometimes" })), "unknown -policy")
	require.ErrorContains(t, run(bad(func(o *options) { o.backup = "cloud" })), "unknown -backup")
	require.NoError(t, run(o))
	o.ft = true
	require.NoError(t, run(o))
}

// Reference: §6.2 with the backup in another process — the program starts
// itself again as the backup node of a pair (-backup process), mirrors its
// checkpoints there over an authenticated TCP link, and prints the right
// prime; the backup process exits with it.
// checkpointsAccountedFor checks a run's checkpoint accounting: one
// checkpoint every 10% of the work and one at the end, each either taken
// or refused because the backup did not hold a copy yet (its pages carried
// into the next). A run that waited for its backup has none refused, so it
// took at least three (several of the ten may coincide); one that did not
// wait may have raced its backup's start on a loaded machine, but every
// checkpoint is still accounted for.
func checkpointsAccountedFor(t *testing.T, out string, waited bool) {
	t.Helper()
	m := regexp.MustCompile(`checkpoints (\d+), `).FindStringSubmatch(out)
	require.NotNil(t, m, "no checkpoint count in %q", out)
	r := regexp.MustCompile(`checkpoints refused before the backup held a copy: (\d+)\)`).FindStringSubmatch(out)
	require.NotNil(t, r, "no refused count in %q", out)
	taken, _ := strconv.Atoi(m[1])
	refused, _ := strconv.Atoi(r[1])
	if waited {
		require.Zero(t, refused, "a run that waited for its backup had checkpoints refused: %s", out)
		require.Regexp(t, `checkpoints ([3-9]|1[01]), `, out, "every 10%% and at the end")
		return
	}
	require.GreaterOrEqual(t, taken+refused, 3, "every 10%% and at the end, taken or refused (carried): %s", out)
	require.LessOrEqual(t, taken+refused, 11, "every 10%% and at the end, taken or refused (carried): %s", out)
}

func TestBackupInAnotherProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin := filepath.Join(t.TempDir(), "primes")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, wait := range []string{"-wait-backup=true", "-wait-backup=false"} {
		out, err = exec.Command(bin, "-n", "30000", "-policy", "percent", "-percent", "10", wait).CombinedOutput()
		require.NoError(t, err, string(out))
		require.Contains(t, string(out), "prime 30000 is 350377")
		require.Contains(t, string(out), "backup in another process")
		checkpointsAccountedFor(t, string(out), wait == "-wait-backup=true")
	}
	out, err = exec.Command(bin, "-serve-backup").CombinedOutput()
	require.Error(t, err, "no secret, no backup")
	require.Contains(t, string(out), "FTM_PRIMES_SECRET")
}
