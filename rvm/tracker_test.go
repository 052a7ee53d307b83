package rvm

import (
	"bytes"
	"context"
	"math/rand"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// Random writes into two segments, one per tracker, checked against an
// independent model: Compare reports exactly the pages whose bytes differ
// from the last checkpoint; WriteTrack reports exactly the pages written
// to (a superset: it also reports pages whose old bytes were put back).
// Rerun a failure with FTM_SEED=<seed>.
func TestTrackersAgainstModel(t *testing.T) {
	rng := testRand(t)
	const pages = 40
	cmp := newNamedSeg(t, "cmp", Compare, pages)
	wt := newNamedSeg(t, "wt", WriteTrack, pages)
	store := NewMemStore()
	saved := make([]byte, pages*ps)
	for round := 0; round < 30; round++ {
		touched := map[int]bool{}
		for i := rng.Intn(60); i > 0; i-- {
			off, n := rng.Intn(pages*ps), 1+rng.Intn(3*ps)
			n = min(n, pages*ps-off)
			fill := byte(rng.Intn(3)) // small alphabet: old bytes are often put back
			for _, s := range []*Segment{cmp, wt} {
				for k := off; k < off+n; k++ {
					s.Bytes()[k] = fill
				}
			}
			for p := off / ps; p*ps < off+n; p++ {
				touched[p] = true
			}
		}
		var differ []int
		for p := 0; p < pages; p++ {
			if !bytes.Equal(cmp.Bytes()[p*ps:(p+1)*ps], saved[p*ps:(p+1)*ps]) {
				differ = append(differ, p)
			}
		}
		gotCmp, err := cmp.Dirty()
		require.NoError(t, err)
		require.Equal(t, orEmpty(differ), gotCmp, "round %d: compare", round)
		gotWT, err := wt.Dirty()
		require.NoError(t, err)
		require.Equal(t, orEmpty(sortedPages(touched)), gotWT, "round %d: write-track", round)
		for _, s := range []*Segment{cmp, wt} {
			_, err := s.Checkpoint(context.Background(), store)
			require.NoError(t, err)
		}
		copy(saved, cmp.Bytes())
	}
}

func orEmpty(p []int) []int {
	if p == nil {
		return []int{}
	}
	return p
}

// testRand is a seeded source for randomized tests: the seed is logged
// (shown on failure) and FTM_SEED=<seed> reruns it.
func testRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := rand.Int63()
	if s := os.Getenv("FTM_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (rerun with FTM_SEED=%d)", seed, seed)
	return rand.New(rand.NewSource(seed))
}

// Auto says which tracker it chose, in one log line with the reason: a
// segment of at most AutoCompareMax bytes is compared; a larger one is
// tracked by the OS where it can.
func TestAutoLogsItsChoice(t *testing.T) {
	t.Run("small", func(t *testing.T) {
		core, logs := observer.New(zap.InfoLevel)
		s, err := NewSegment("auto", AutoCompareMax, Config{Logger: zap.New(core)})
		require.NoError(t, err)
		defer s.Close()
		entries := logs.All()
		require.Len(t, entries, 1)
		require.Equal(t, Compare, s.Method())
		require.Equal(t, "small segment: dirty pages found by comparison", entries[0].Message)
		require.Equal(t, "auto", entries[0].ContextMap()["segment"])
	})
	t.Run("large", func(t *testing.T) {
		core, logs := observer.New(zap.InfoLevel)
		s, err := NewSegment("auto", AutoCompareMax+ps, Config{Logger: zap.New(core)})
		require.NoError(t, err)
		defer s.Close()
		entries := logs.All()
		require.Len(t, entries, 1)
		switch s.Method() {
		case WriteTrack:
			require.Equal(t, "dirty pages tracked by the OS", entries[0].Message)
		case Compare:
			require.Contains(t, entries[0].Message, "OS write tracking unavailable")
			require.Contains(t, entries[0].ContextMap(), "error")
		default:
			t.Fatalf("Auto chose %v", s.Method())
		}
		require.Equal(t, "auto", entries[0].ContextMap()["segment"])
	})
}
