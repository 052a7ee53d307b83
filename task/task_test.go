package task

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel/clock"
	"github.com/ftm-in-go/ftm/rvm"
)

var errCrash = errors.New("simulated crash")

// counter is an ordinary program: it counts to total in a segment, with no
// failure-handling code. crashAt > 0 makes it stop there, as a crash would.
func counter(total, crashAt int64) func(ctx context.Context, t *Task) error {
	return func(ctx context.Context, t *Task) error {
		seg, err := t.Segment(ctx, "progress", rvm.DefaultPageSize)
		if err != nil {
			return err
		}
		state, err := rvm.View[struct{ Done, Sum int64 }](seg, 0)
		if err != nil {
			return err
		}
		for state.Done < total {
			state.Done++
			state.Sum += state.Done
			t.Progress(state.Done, total)
			if state.Done == crashAt {
				return errCrash
			}
			if err := t.Poll(ctx); err != nil {
				return err
			}
		}
		return nil
	}
}

// Reference: §6.2 — checkpoints at every power of two of the work done; a
// crash loses only the work since the last one, and the re-entered program
// finishes with the right answer.
func TestPowerOfTwoPolicyAndRestart(t *testing.T) {
	ctx := context.Background()
	store := rvm.NewMemStore()
	cfg := Config{Name: "count", Store: store, Policy: Policy{PowerOfTwo: true}}
	st, err := Run(ctx, cfg, counter(1000, 700))
	require.ErrorIs(t, err, errCrash)
	require.False(t, st.Restored)
	require.Equal(t, 10, st.Checkpoints, "at 1, 2, 4, ..., 512")
	require.Equal(t, int64(512), st.LastProgress)

	st, err = Run(ctx, cfg, counter(1000, 0))
	require.NoError(t, err)
	require.True(t, st.Restored)
	pages, err := store.LoadPages(ctx, "progress")
	require.NoError(t, err)
	seg, err := rvm.NewSegment("check", rvm.DefaultPageSize, rvm.Config{})
	require.NoError(t, err)
	defer seg.Close()
	copy(seg.Bytes(), pages[0])
	final, err := rvm.View[struct{ Done, Sum int64 }](seg, 0)
	require.NoError(t, err)
	require.Equal(t, int64(1000), final.Done)
	require.Equal(t, int64(1000*1001/2), final.Sum, "no step lost or done twice")
}

func TestPercentAndTimePolicies(t *testing.T) {
	ctx := context.Background()
	st, err := Run(ctx, Config{Name: "pct", Store: rvm.NewMemStore(), Policy: Policy{Percent: 10}}, counter(1000, 0))
	require.NoError(t, err)
	require.Equal(t, 11, st.Checkpoints, "every 10% plus the final one")

	clk := clock.NewManual(time.Unix(0, 0))
	ticking := func(ctx context.Context, t *Task) error {
		if _, err := t.Segment(ctx, "s", rvm.DefaultPageSize); err != nil {
			return err
		}
		for i := 0; i < 5; i++ {
			clk.Advance(time.Second)
			if err := t.Poll(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	st, err = Run(ctx, Config{Name: "time", Store: rvm.NewMemStore(), Clock: clk, Policy: Policy{Every: 2 * time.Second}}, ticking)
	require.NoError(t, err)
	require.Equal(t, 3, st.Checkpoints, "at 2s, 4s, and the final one")
}

func TestWithoutStoreNoCheckpoints(t *testing.T) {
	st, err := Run(context.Background(), Config{Name: "plain", Policy: Policy{PowerOfTwo: true}}, func(ctx context.Context, tk *Task) error {
		if _, err := tk.Segment(ctx, "s", 100); err != nil {
			return err
		}
		if err := tk.Poll(ctx); err != nil {
			return err
		}
		return tk.Checkpoint(ctx)
	})
	require.ErrorIs(t, err, ErrNoFaultTolerance)
	require.Zero(t, st.Checkpoints)
}

// Reference: the 1% policy takes "about 100 checkpoints" of a run: the
// sieve's 196 pages at 1% give a checkpoint every 1.96 pages rounded up,
// not one per page.
func TestPercentThresholdsRoundUpFractionalSteps(t *testing.T) {
	var got []int64
	for done := int64(0); done < 196; done = percentThreshold(done, 196, 1) {
		got = append(got, percentThreshold(done, 196, 1))
	}
	require.Len(t, got, 100)
	require.Equal(t, []int64{2, 4, 6, 8, 10}, got[:5])
	require.Equal(t, int64(196), got[len(got)-1])
	require.Equal(t, int64(100), percentThreshold(0, 1000, 10))
	require.Equal(t, int64(200), percentThreshold(100, 1000, 10))
	require.Equal(t, int64(1), percentThreshold(0, 3, 25), "at least one unit")
	require.Equal(t, int64(2), percentThreshold(0, 3, 50))
}
