package task

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/stm"
)

// refusingStore refuses the saves whose number is in refuse with
// stm.ErrNoBackup (the partner is down), and counts the others.
type refusingStore struct {
	*rvm.MemStore
	mu     sync.Mutex
	refuse map[int]bool
	saves  int
}

func (r *refusingStore) SavePages(ctx context.Context, seg string, n int, pages map[int][]byte) error {
	return r.SaveBatch(ctx, []rvm.SegmentPages{{Segment: seg, NPages: n, Pages: pages}})
}

func (r *refusingStore) SaveBatch(ctx context.Context, b []rvm.SegmentPages) error {
	r.mu.Lock()
	r.saves++
	refused := r.refuse[r.saves]
	r.mu.Unlock()
	if refused {
		return stm.ErrNoBackup
	}
	for _, sp := range b {
		if err := r.MemStore.SavePages(ctx, sp.Segment, sp.NPages, sp.Pages); err != nil {
			return err
		}
	}
	return nil
}

// Reference: §6.2 with background commits — pages of a checkpoint the
// store refused (no backup) were marked clean by rvm; they must reach the
// store with the next checkpoint, or the restored image would miss them.
func TestRefusedCheckpointPagesAreCarriedIntoTheNext(t *testing.T) {
	const pages = 16
	store := &refusingStore{MemStore: rvm.NewMemStore(), refuse: map[int]bool{2: true, 3: true}}
	ps := rvm.DefaultPageSize
	st, err := Run(context.Background(), Config{Name: "carry", Store: store, Policy: Policy{Percent: 10}},
		func(ctx context.Context, tk *Task) error {
			seg, err := tk.Segment(ctx, "s", pages*ps)
			if err != nil {
				return err
			}
			for i := int64(1); i <= 100; i++ {
				p := int(i-1) / 7 // each page is dirtied in 7 consecutive steps only
				seg.Bytes()[p*ps+int(i)] = byte(i)
				tk.Progress(i, 100)
				if err := tk.Poll(ctx); err != nil {
					return err
				}
			}
			return nil
		})
	require.NoError(t, err)
	require.Equal(t, 2, st.Skipped)
	require.Equal(t, 9, st.Checkpoints, "11 taken, 2 refused")
	got, err := store.LoadPages(context.Background(), "s")
	require.NoError(t, err)
	want := make([]byte, pages*ps)
	for i := 1; i <= 100; i++ {
		want[((i-1)/7)*ps+i] = byte(i)
	}
	for p := 0; p < pages; p++ {
		img, ok := got[p]
		if !ok {
			img = make([]byte, ps) // never saved: never dirtied
		}
		require.True(t, bytes.Equal(want[p*ps:(p+1)*ps], img), "page %d differs from the task's memory", p)
	}
}

func TestMergePrefersNewerPages(t *testing.T) {
	old := []rvm.SegmentPages{{Segment: "a", NPages: 2, Pages: map[int][]byte{0: {1}, 1: {1}}}, {Segment: "b", NPages: 1, Pages: map[int][]byte{0: {7}}}}
	newer := []rvm.SegmentPages{{Segment: "a", NPages: 3, Pages: map[int][]byte{1: {2}, 2: {2}}}}
	got := merge(old, newer)
	require.Equal(t, []rvm.SegmentPages{
		{Segment: "a", NPages: 3, Pages: map[int][]byte{0: {1}, 1: {2}, 2: {2}}},
		{Segment: "b", NPages: 1, Pages: map[int][]byte{0: {7}}},
	}, got)
	require.Equal(t, []byte{1}, old[0].Pages[1], "the carried batch is not modified")
}
