package rvm

import (
	"bytes"
	"context"
	"math/rand"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
)

var failpoints = []string{FailBeforeSave, FailMidSave, FailBeforeCommit, FailAfterCommit}

// crashAt arms store to crash once failpoint name has been passed n times.
func crashAt(store *CrashStore, name string, n int) {
	store.Failpoint = failpoint.Nth(name, "", n+1)
}

// A task writes, checkpoints, and the store crashes at random failpoints in
// the middle of checkpoints. After each crash the task is restarted from
// the store on a fresh segment: it must hold exactly the last committed
// checkpoint (the in-flight one only if the crash came after its commit),
// and go on from there. Reference: §4.1 (the pager's pages are saved as
// part of an atomic action), §4.2.4 (crashes while committing).
func TestCrashStoreRestoreIsLastCommittedCheckpoint(t *testing.T) {
	rounds := 40
	if os.Getenv("FTM_SOAK") != "" {
		rounds = 2000
	}
	for _, m := range methods() {
		t.Run(m.String(), func(t *testing.T) {
			runCrashRounds(t, testRand(t), m, rounds)
		})
	}
}

func runCrashRounds(t *testing.T, rng *rand.Rand, m Method, rounds int) {
	ctx := context.Background()
	const pages = 24
	store := NewCrashStore()
	seg := newSeg(t, m, pages)
	committed := make([]byte, len(seg.Bytes())) // zero: nothing saved yet
	for round := 0; round < rounds; round++ {
		for i := rng.Intn(300); i > 0; i-- {
			seg.Bytes()[rng.Intn(len(seg.Bytes()))] = byte(rng.Intn(256))
		}
		inflight := bytes.Clone(seg.Bytes())
		fp := ""
		if rng.Intn(3) == 0 {
			fp = failpoints[rng.Intn(len(failpoints))]
			crashAt(store, fp, rng.Intn(3))
		}
		_, err := seg.Checkpoint(ctx, store)
		store.Failpoint = nil
		if err == nil {
			committed = inflight
			continue
		}
		require.ErrorIs(t, err, ErrCrashed, "round %d at %s", round, fp)
		if fp == FailAfterCommit {
			committed = inflight
		}
		store.Recover()
		if rng.Intn(2) == 0 { // only the store failed: the same task retries later
			continue
		}
		seg = newSeg(t, m, pages) // the task restarts from the store
		err = seg.Restore(ctx, store)
		if err != nil {
			require.ErrorIs(t, err, ErrNoImage)
			require.Equal(t, make([]byte, len(committed)), committed, "no image only if nothing was committed")
			continue
		}
		require.True(t, bytes.Equal(committed, seg.Bytes()), "round %d: crash at %s", round, fp)
	}
	_, err := seg.Checkpoint(ctx, store)
	require.NoError(t, err)
	final := newSeg(t, m, pages)
	require.NoError(t, final.Restore(ctx, store))
	require.True(t, bytes.Equal(seg.Bytes(), final.Bytes()), "a clean checkpoint after the crashes saves everything carried over")
}

// Each failpoint, one at a time: exactly which image survives.
func TestCrashStoreEachFailpoint(t *testing.T) {
	ctx := context.Background()
	for _, fp := range failpoints {
		t.Run(fp, func(t *testing.T) {
			store := NewCrashStore()
			seg := newSeg(t, Compare, 4)
			seg.Bytes()[0], seg.Bytes()[2*ps] = 1, 1
			_, err := seg.Checkpoint(ctx, store)
			require.NoError(t, err)
			old := bytes.Clone(seg.Bytes())
			seg.Bytes()[ps], seg.Bytes()[2*ps], seg.Bytes()[3*ps] = 2, 2, 2
			crashAt(store, fp, 1) // mid-save: after the second of three pages
			if fp != FailMidSave {
				crashAt(store, fp, 0)
			}
			_, err = seg.Checkpoint(ctx, store)
			require.ErrorIs(t, err, ErrCrashed)
			_, err = store.LoadPages(ctx, "data")
			require.ErrorIs(t, err, ErrCrashed, "a crashed store answers nothing until it recovers")
			store.Recover()
			want := old
			if fp == FailAfterCommit {
				want = seg.Bytes()
			}
			after := newNamedSeg(t, "data", Compare, 4)
			require.NoError(t, after.Restore(ctx, store))
			require.Equal(t, want, after.Bytes())
		})
	}
}

func TestCrashStoreDetectsCorruptPage(t *testing.T) {
	ctx := context.Background()
	store := NewCrashStore()
	seg := newSeg(t, Compare, 4)
	seg.Bytes()[3*ps+5] = 9
	_, err := seg.Checkpoint(ctx, store)
	require.NoError(t, err)
	require.False(t, store.Corrupt("data", 0), "page 0 was never saved")
	require.True(t, store.Corrupt("data", 3))
	after := newNamedSeg(t, "data", Compare, 4)
	require.ErrorIs(t, after.Restore(ctx, store), ErrCorruptPage)
	require.Equal(t, make([]byte, 4*ps), after.Bytes(), "a failed restore writes nothing")
}

// A task with three segments (data, heap, progress) is checkpointed as one
// batch; a crash anywhere in the batch brings all three back from the same
// checkpoint, never a mix. Reference: §4.1 (one atomic action per task
// checkpoint).
func TestCrashStoreTaskSegmentsComeBackFromOneCheckpoint(t *testing.T) {
	ctx := context.Background()
	names := []string{"data", "heap", "progress"}
	for _, fp := range failpoints {
		t.Run(fp, func(t *testing.T) {
			store := NewCrashStore()
			segs := make([]*Segment, len(names))
			for i, n := range names {
				segs[i] = newNamedSeg(t, n, Compare, 3)
			}
			write := func(v byte) {
				for _, s := range segs {
					s.Bytes()[ps+7] = v
				}
			}
			write(1)
			_, err := Checkpoint(ctx, store, segs...)
			require.NoError(t, err)
			write(2)
			crashAt(store, fp, 1) // mid-save: after the second segment's page
			if fp != FailMidSave {
				crashAt(store, fp, 0)
			}
			_, err = Checkpoint(ctx, store, segs...)
			require.ErrorIs(t, err, ErrCrashed)
			store.Recover()
			want := byte(1)
			if fp == FailAfterCommit {
				want = 2
			}
			for _, n := range names {
				after := newNamedSeg(t, n, Compare, 3)
				require.NoError(t, after.Restore(ctx, store))
				require.Equal(t, want, after.Bytes()[ps+7], "segment %s", n)
			}
		})
	}
}
