package rvm

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// cell is a plain struct: numbers and an array of them.
type cell struct {
	X, Y  float64
	Alive bool
	Hist  [3]int32
}

// A typed slice is the segment's memory: its writes are checkpointed, and
// the same slice sees the checkpoint again after a restore.
func TestSliceSurvivesRestore(t *testing.T) {
	s := newSeg(t, Compare, 2)
	cells, err := Slice[cell](s, 0, 500)
	require.NoError(t, err)
	require.Len(t, cells, 500)
	for i := range cells {
		cells[i] = cell{X: float64(i), Y: -float64(i), Alive: i%2 == 0, Hist: [3]int32{int32(i), 1, 2}}
	}
	store := NewMemStore()
	_, err = s.Checkpoint(context.Background(), store)
	require.NoError(t, err)
	want := append([]cell(nil), cells...)
	for i := range cells {
		cells[i] = cell{} // work lost in a crash
	}
	require.NoError(t, s.Restore(context.Background(), store))
	require.Equal(t, want, cells, "the view is valid across the restore")
}

// Types that hold a pointer are refused with a message naming the part.
func TestSliceRefusesTypesWithPointers(t *testing.T) {
	s := newSeg(t, Compare, 1)
	type named struct {
		N    int
		Name string
	}
	type deep struct{ In [2]struct{ P *int } }
	for _, tc := range []struct {
		err  error
		want string
	}{
		{func() error { _, err := Slice[string](s, 0, 1); return err }(), "string holds a pointer (it is a string)"},
		{func() error { _, err := Slice[named](s, 0, 1); return err }(), "(Name is a string)"},
		{func() error { _, err := Slice[deep](s, 0, 1); return err }(), "(In[].P is a *int)"},
		{func() error { _, err := Slice[[]int](s, 0, 1); return err }(), "it is a slice"},
		{func() error { _, err := View[map[int]int](s, 0); return err }(), "it is a map"},
		{func() error { _, err := Slice[uintptr](s, 0, 1); return err }(), "it is a uintptr"},
	} {
		require.ErrorIs(t, tc.err, ErrNotPlain)
		require.ErrorContains(t, tc.err, tc.want)
	}
	require.NoError(t, CheckPlain[[4]complex128]())
}

// A slice must fit in the segment, aligned for its type.
func TestSliceBounds(t *testing.T) {
	s := newSeg(t, Compare, 1)
	_, err := Slice[uint64](s, 0, ps/8+1)
	require.Error(t, err)
	_, err = Slice[uint64](s, 4, 1)
	require.Error(t, err, "misaligned")
	_, err = Slice[uint64](s, ps+8, 0)
	require.Error(t, err)
	_, err = Slice[uint64](s, 0, -1)
	require.Error(t, err)
	v, err := Slice[uint64](s, ps-8, 1)
	require.NoError(t, err)
	v[0] = 7
	require.Equal(t, byte(7), s.Bytes()[ps-8])
	empty, err := Slice[uint64](s, ps, 0)
	require.NoError(t, err)
	require.Empty(t, empty)
}
