package sieve

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/task"
)

// runWithStore runs prog as a task checkpointed into store at every power
// of two of its pages.
func runWithStore(t *testing.T, store rvm.PageStore, prog func(context.Context, *task.Task) error) (task.Stats, error) {
	t.Helper()
	return task.Run(context.Background(), task.Config{Name: "primes", Store: store, Policy: task.Policy{PowerOfTwo: true}}, prog)
}

// The node program runs the paper's algorithm: the job its checkpoints
// record is "by primes", so a restored run by odd divisors is refused as
// another job, and one by primes resumes it. Its result is the known
// 100,000th prime.
func TestRunDividesByThePrimesFound(t *testing.T) {
	store := rvm.NewMemStore()
	var out string
	st, err := runWithStore(t, store, func(ctx context.Context, tk *task.Task) (err error) {
		out, err = Run(ctx, tk, []string{"100000"})
		return err
	})
	require.NoError(t, err)
	require.Equal(t, "prime 100000 is 1299709", out)
	require.Positive(t, st.Checkpoints)

	_, err = runWithStore(t, store, func(ctx context.Context, tk *task.Task) error {
		_, err := Compute(ctx, tk, 100000, false)
		return err
	})
	require.ErrorIs(t, err, ErrOtherJob, "the checkpoint is of a run by primes")
	var nth uint32
	st, err = runWithStore(t, store, func(ctx context.Context, tk *task.Task) (err error) {
		nth, err = Compute(ctx, tk, 100000, true)
		return err
	})
	require.NoError(t, err)
	require.True(t, st.Restored)
	require.Equal(t, uint32(1299709), nth)
}

// A job an earlier build checkpointed by odd divisors resumes under Run in
// its own mode (not refused as another job's after an upgrade), with the
// same result.
func TestRunResumesAnOddDivisorJob(t *testing.T) {
	store := rvm.NewMemStore()
	_, err := runWithStore(t, store, func(ctx context.Context, tk *task.Task) error {
		_, err := Compute(ctx, tk, 100000, false)
		return err
	})
	require.NoError(t, err)
	var out string
	st, err := runWithStore(t, store, func(ctx context.Context, tk *task.Task) (err error) {
		out, err = Run(ctx, tk, []string{"100000"})
		return err
	})
	require.NoError(t, err)
	require.True(t, st.Restored)
	require.Equal(t, "prime 100000 is 1299709", out)
}
