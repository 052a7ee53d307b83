package rvm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/stm/stmtest"
)

const ps = DefaultPageSize

func newSeg(t testing.TB, m Method, pages int) *Segment {
	t.Helper()
	return newNamedSeg(t, "data", m, pages)
}

func newNamedSeg(t testing.TB, name string, m Method, pages int) *Segment {
	t.Helper()
	s, err := NewSegment(name, pages*ps, Config{Method: m, Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	if m == WriteTrack && s.Method() != WriteTrack {
		t.Skip("the OS offers no write tracking here (see the log line above)")
	}
	require.Equal(t, m, s.Method())
	return s
}

func methods() []Method { return []Method{Compare, WriteTrack} }

// The dirty-page tests: each write pattern gives exactly the expected set
// for each method. Reference: §4.1 (only modified pages are saved).
func TestDirtySetsPerPattern(t *testing.T) {
	type pattern struct {
		name  string
		write func(b []byte)
		want  []int
		// restoring old bytes: clean for Compare, dirty for WriteTrack
		wantWT []int
	}
	patterns := []pattern{
		{name: "none", write: func([]byte) {}, want: []int{}},
		{name: "sparse", write: func(b []byte) { b[0] = 1; b[5*ps+17] = 1; b[15*ps+ps-1] = 1 }, want: []int{0, 5, 15}},
		{name: "dense", write: func(b []byte) {
			for i := 3 * ps; i < 6*ps; i += 64 {
				b[i] = 7
			}
		}, want: []int{3, 4, 5}},
		{name: "every page", write: func(b []byte) {
			for p := 0; p < 16; p++ {
				b[p*ps+100] = 9
			}
		}, want: seq(0, 16)},
		{name: "same page twice", write: func(b []byte) { b[2*ps] = 1; b[2*ps+1] = 2 }, want: []int{2}},
		{name: "across a page boundary", write: func(b []byte) { copy(b[7*ps-2:], []byte{1, 2, 3, 4}) }, want: []int{6, 7}},
		{name: "restores old bytes", write: func(b []byte) { b[9*ps] = 5; b[9*ps] = 0 }, want: []int{}, wantWT: []int{9}},
	}
	for _, m := range methods() {
		for _, pt := range patterns {
			t.Run(m.String()+"/"+pt.name, func(t *testing.T) {
				s := newSeg(t, m, 16)
				store := NewMemStore()
				_, err := s.Checkpoint(context.Background(), store) // a baseline
				require.NoError(t, err)
				pt.write(s.Bytes())
				got, err := s.Dirty()
				require.NoError(t, err)
				want := pt.want
				if m == WriteTrack && pt.wantWT != nil {
					want = pt.wantWT
				}
				require.Equal(t, want, got)
				st, err := s.Checkpoint(context.Background(), store)
				require.NoError(t, err)
				require.Equal(t, len(want), st.Pages)
				got, err = s.Dirty()
				require.NoError(t, err)
				require.Empty(t, got, "a checkpoint resets the dirty set")
			})
		}
	}
}

func seq(a, b int) []int {
	var out []int
	for i := a; i < b; i++ {
		out = append(out, i)
	}
	return out
}

func TestFirstCheckpointOfFreshSegment(t *testing.T) {
	for _, m := range methods() {
		t.Run(m.String(), func(t *testing.T) {
			s := newSeg(t, m, 4)
			got, err := s.Dirty()
			require.NoError(t, err)
			require.Empty(t, got, "untouched zero pages need no saving")
		})
	}
}

// Restore after a crash yields the segment byte for byte as it was at the
// checkpoint, at every checkpoint of a random run.
func TestRestoreIsByteIdenticalAtEveryCheckpoint(t *testing.T) {
	for _, m := range methods() {
		t.Run(m.String(), func(t *testing.T) {
			rng := testRand(t)
			s := newSeg(t, m, 32)
			store := NewMemStore()
			for round := 0; round < 8; round++ {
				for i := rng.Intn(200); i > 0; i-- {
					s.Bytes()[rng.Intn(len(s.Bytes()))] = byte(rng.Intn(256))
				}
				_, err := s.Checkpoint(context.Background(), store)
				require.NoError(t, err)
				image := bytes.Clone(s.Bytes())
				for i := rng.Intn(200) + 1; i > 0; i-- { // work after the checkpoint, lost in the crash
					s.Bytes()[rng.Intn(len(s.Bytes()))]++
				}
				after := newSeg(t, m, 32) // the task restarted on the backup
				require.NoError(t, after.Restore(context.Background(), store))
				require.True(t, bytes.Equal(image, after.Bytes()), "round %d", round)
				dirty, err := after.Dirty()
				require.NoError(t, err)
				require.Empty(t, dirty, "a restored segment starts clean")
			}
		})
	}
}

func TestCorruptPageDetectedOnRestore(t *testing.T) {
	s := newSeg(t, Compare, 4)
	store := NewMemStore()
	s.Bytes()[ps] = 1
	_, err := s.Checkpoint(context.Background(), store)
	require.NoError(t, err)
	store.corrupt("data", 1)
	before := bytes.Clone(s.Bytes())
	err = s.Restore(context.Background(), store)
	require.ErrorIs(t, err, ErrCorruptPage)
	require.True(t, bytes.Equal(before, s.Bytes()), "a failed restore leaves the segment alone")
	other, err := NewSegment("other", ps, Config{})
	require.NoError(t, err)
	defer other.Close()
	require.ErrorIs(t, other.Restore(context.Background(), store), ErrNoImage)
}

type failingStore struct{ PageStore }

func (failingStore) SavePages(context.Context, string, int, map[int][]byte) error {
	return errors.New("backup unreachable")
}

func TestFailedCheckpointKeepsPagesDirty(t *testing.T) {
	for _, m := range methods() {
		t.Run(m.String(), func(t *testing.T) {
			s := newSeg(t, m, 4)
			s.Bytes()[3*ps] = 1
			_, err := s.Checkpoint(context.Background(), failingStore{})
			require.Error(t, err)
			got, err := s.Dirty()
			require.NoError(t, err)
			require.Equal(t, []int{3}, got, "nothing saved, nothing forgotten")
			store := NewMemStore()
			st, err := s.Checkpoint(context.Background(), store)
			require.NoError(t, err)
			require.Equal(t, 1, st.Pages)
		})
	}
}

func TestHintIsSavedWithoutCompare(t *testing.T) {
	s := newSeg(t, Compare, 4)
	s.Hint(ps+10, ps) // pages 1 and 2
	got, err := s.Dirty()
	require.NoError(t, err)
	require.Equal(t, []int{1, 2}, got)
	s.Hint(-5, 1)
	s.Hint(100*ps, 1)
}

func TestViewsAndErrors(t *testing.T) {
	s := newSeg(t, Compare, 1)
	type progress struct{ Count, Last uint64 }
	v, err := View[progress](s, 16)
	require.NoError(t, err)
	v.Count = 42
	require.Equal(t, uint32(42), s.Uint32s()[4])
	_, err = View[progress](s, ps-8)
	require.Error(t, err)
	_, err = View[progress](s, 3)
	require.Error(t, err, "misaligned")
	_, err = NewSegment("", ps, Config{})
	require.ErrorIs(t, err, ErrBadConfig)
	_, err = NewSegment("x", 0, Config{})
	require.ErrorIs(t, err, ErrBadConfig)
	_, err = NewSegment("x", ps, Config{PageSize: 1000})
	require.ErrorIs(t, err, ErrBadConfig)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	_, err = s.Dirty()
	require.ErrorIs(t, err, ErrClosed)
}

func TestCheckpointSeveralSegmentsAtomically(t *testing.T) {
	ctx := context.Background()
	bank, backup := stmtest.Mirrored(t)
	a, b := newNamedSeg(t, "a", Compare, 2), newNamedSeg(t, "b", Compare, 2)
	a.Bytes()[0], b.Bytes()[ps] = 1, 2
	st, err := Checkpoint(ctx, NewSTMStore(bank), a, b)
	require.NoError(t, err)
	require.Equal(t, 2, st.Pages)
	_, err = Checkpoint(ctx, NewSTMStore(bank), a, a)
	require.ErrorIs(t, err, ErrBadConfig)
	survivor := stmtest.Takeover(t, backup)
	pa, err := NewSTMStore(survivor).LoadPages(ctx, "a")
	require.NoError(t, err)
	pb, err := NewSTMStore(survivor).LoadPages(ctx, "b")
	require.NoError(t, err)
	require.Equal(t, byte(1), pa[0][0])
	require.Equal(t, byte(2), pb[1][0])
}

// Page size is configurable: with 4 KiB and 16 KiB pages the dirty set is
// in segment pages, whatever the OS page size the tracker sees.
func TestDirtySetsWithOtherPageSizes(t *testing.T) {
	for _, m := range methods() {
		for _, size := range []int{4 << 10, 16 << 10} {
			t.Run(fmt.Sprintf("%s/%d", m, size), func(t *testing.T) {
				s, err := NewSegment("data", 8*size, Config{PageSize: size, Method: m, Logger: zaptest.NewLogger(t)})
				require.NoError(t, err)
				defer s.Close()
				if s.Method() != m {
					t.Skip("no OS write tracking here")
				}
				require.Equal(t, 8, s.Pages())
				s.Bytes()[size-1] = 1        // last byte of page 0
				s.Bytes()[3*size+size/2] = 1 // middle of page 3
				s.Bytes()[8*size-4096] = 1   // last OS page of page 7
				got, err := s.Dirty()
				require.NoError(t, err)
				require.Equal(t, []int{0, 3, 7}, got)
				st, err := s.Checkpoint(context.Background(), NewMemStore())
				require.NoError(t, err)
				require.Equal(t, 3*size, st.Bytes)
			})
		}
	}
}

func TestCheckpointRejectsRepeatedSegment(t *testing.T) {
	a := newNamedSeg(t, "a", Compare, 1)
	b := newNamedSeg(t, "b", Compare, 1)
	_, err := Checkpoint(context.Background(), NewMemStore(), a, b, a)
	require.ErrorIs(t, err, ErrBadConfig)
	_, err = Checkpoint(context.Background(), NewMemStore(), a, nil)
	require.ErrorIs(t, err, ErrBadConfig)
	_, err = Checkpoint(context.Background(), NewMemStore(), a, b)
	require.NoError(t, err)
}
