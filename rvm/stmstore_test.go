package rvm

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// objectOf returns segment seg's object as tx sees it.
func objectOf(t testing.TB, tx *stm.Tx, seg string) segObject {
	t.Helper()
	o, ok, err := segment(tx, seg)
	require.NoError(t, err)
	require.True(t, ok, "segment %q saved", seg)
	return o
}

// pageOf returns the id of page p of segment seg.
func pageOf(t testing.TB, tx *stm.Tx, seg string, p int) stm.ID {
	t.Helper()
	o := objectOf(t, tx, seg)
	id, ok := o.pageID(p)
	require.True(t, ok, "page %d of %q has an id", p, seg)
	return id
}

// Pages checkpointed into STM survive the primary: the backup bank takes
// over and the segment is restored from it byte for byte. Reference: §4.1.
func TestSTMStoreSurvivesTakeover(t *testing.T) {
	ctx := context.Background()
	bank, backup := stmtest.Mirrored(t)
	store := NewSTMStore(bank)
	data, heap := newNamedSeg(t, "data", Compare, 8), newNamedSeg(t, "heap", Compare, 4)
	copy(data.Bytes()[3*ps:], "three")
	copy(heap.Bytes()[ps:], "heap one")
	for _, s := range []*Segment{data, heap} {
		_, err := s.Checkpoint(ctx, store)
		require.NoError(t, err)
	}
	image := bytes.Clone(data.Bytes())
	copy(data.Bytes()[5*ps:], "after the checkpoint")

	survivor := stmtest.Takeover(t, backup)
	restored, err := NewSegment("data", 8*ps, Config{Method: Compare})
	require.NoError(t, err)
	defer restored.Close()
	require.NoError(t, restored.Restore(ctx, NewSTMStore(survivor)))
	require.True(t, bytes.Equal(image, restored.Bytes()), "restored data segment differs from its checkpoint")

	other, err := NewSegment("heap", 4*ps, Config{Method: Compare})
	require.NoError(t, err)
	defer other.Close()
	require.NoError(t, other.Restore(ctx, NewSTMStore(survivor)))
	require.Equal(t, "heap one", string(other.Bytes()[ps:ps+8]))
}

func TestSTMStoreDetectsCorruptPage(t *testing.T) {
	ctx := context.Background()
	bank, _ := stmtest.Mirrored(t)
	store := NewSTMStore(bank)
	s := newSeg(t, Compare, 2)
	s.Bytes()[ps] = 1
	_, err := s.Checkpoint(ctx, store)
	require.NoError(t, err)
	require.NoError(t, bank.Update(ctx, func(tx *stm.Tx) error {
		id := pageOf(t, tx, "data", 1)
		obj, err := tx.Bytes(id)
		if err != nil {
			return err
		}
		bad := bytes.Clone(obj)
		bad[0] ^= 0xff
		return tx.Put(id, bad)
	}))
	require.ErrorIs(t, s.Restore(ctx, store), ErrCorruptPage)
	_, err = store.LoadPages(ctx, "never-saved")
	require.ErrorIs(t, err, ErrNoImage)
}

// A page whose checksum is lost or wrong is reported, not restored.
func TestSTMStoreDetectsBadChecksumObject(t *testing.T) {
	ctx := context.Background()
	bank, _ := stmtest.Mirrored(t)
	store := NewSTMStore(bank)
	s := newSeg(t, Compare, 3)
	s.Bytes()[2*ps] = 1
	_, err := s.Checkpoint(ctx, store)
	require.NoError(t, err)
	require.NoError(t, s.Restore(ctx, store))
	require.NoError(t, bank.Update(ctx, func(tx *stm.Tx) error {
		return tx.WriteAt(objectOf(t, tx, "data").Sums, 4*2, []byte{0, 0, 0, 0})
	}))
	require.ErrorIs(t, s.Restore(ctx, store), ErrCorruptPage)
	require.NoError(t, bank.Update(ctx, func(tx *stm.Tx) error { return tx.Delete(objectOf(t, tx, "data").Sums) }))
	require.ErrorIs(t, s.Restore(ctx, store), ErrCorruptPage)
}

// Segments are created with CRC-32C sums (the kind absent from the
// encoding). A segment object an earlier build made with CRC-32 (IEEE)
// sums still restores, is still checked, and its later checkpoints keep
// IEEE sums.
func TestSTMStoreReadsIEEESums(t *testing.T) {
	ctx := context.Background()
	bank, _ := stmtest.Mirrored(t)
	store := NewSTMStore(bank)
	s := newSeg(t, Compare, 3)
	copy(s.Bytes()[ps:], "legacy")
	_, err := s.Checkpoint(ctx, store)
	require.NoError(t, err)
	require.NoError(t, bank.Update(ctx, func(tx *stm.Tx) error { // rewrite with IEEE sums
		o, ok, err := segment(tx, "data")
		id := o.id
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, sumCastagnoli, o.Sum)
		o.Sum = sumIEEE
		page, err := tx.Bytes(pageOf(t, tx, "data", 1))
		if err != nil {
			return err
		}
		sums := make([]byte, 12)
		binary.LittleEndian.PutUint32(sums[4:], crc32.ChecksumIEEE(page))
		if err := tx.Put(o.Sums, sums); err != nil {
			return err
		}
		return stm.Set(tx, id, o)
	}))
	clear(s.Bytes())
	require.NoError(t, s.Restore(ctx, store))
	require.Equal(t, "legacy", string(s.Bytes()[ps:ps+6]))

	copy(s.Bytes()[2*ps:], "later")
	_, err = s.Checkpoint(ctx, store)
	require.NoError(t, err)
	clear(s.Bytes())
	require.NoError(t, s.Restore(ctx, store))
	require.Equal(t, "legacy", string(s.Bytes()[ps:ps+6]))
	require.Equal(t, "later", string(s.Bytes()[2*ps:2*ps+5]))
	require.NoError(t, bank.View(ctx, func(tx *stm.Tx) error {
		require.Equal(t, sumIEEE, objectOf(t, tx, "data").Sum)
		return nil
	}))

	require.NoError(t, bank.Update(ctx, func(tx *stm.Tx) error {
		return tx.WriteAt(objectOf(t, tx, "data").Sums, 4, []byte{1, 2, 3, 4})
	}))
	require.ErrorIs(t, s.Restore(ctx, store), ErrCorruptPage)
}

// saveSegs saves n segments named prefix+i, two small pages each whose
// bytes name the segment and the page.
func saveSegs(t *testing.T, store *STMStore, prefix string, n int) {
	t.Helper()
	for i := range n {
		seg := fmt.Sprint(prefix, i)
		pages := map[int][]byte{0: []byte(seg + "/0"), 1: []byte(seg + "/1")}
		require.NoError(t, store.SavePages(context.Background(), seg, 2, pages))
	}
}

// checkSegs checks that every segment saveSegs wrote loads as written.
func checkSegs(t *testing.T, store *STMStore, prefix string, n int) {
	t.Helper()
	for i := range n {
		seg := fmt.Sprint(prefix, i)
		got, err := store.LoadPages(context.Background(), seg)
		require.NoError(t, err, seg)
		require.Equal(t, map[int][]byte{0: []byte(seg + "/0"), 1: []byte(seg + "/1")}, got)
	}
}

// More segments than the old fixed layout had slots below the other
// packages' ids: every one keeps its pages, and dropping them leaves the
// bank as it was (nothing grows without bound).
func TestSTMStoreManySegmentsAndDrop(t *testing.T) {
	ctx := context.Background()
	bank, backup := stmtest.Mirrored(t)
	store := NewSTMStore(bank)
	saveSegs(t, store, "keep", 3)
	before := bank.Stats().Objects
	saveSegs(t, store, "run/", 1100)
	checkSegs(t, store, "keep", 3)
	checkSegs(t, store, "run/", 1100)

	survivor, _, err := backup.Takeover(ctx, stm.Config{})
	require.NoError(t, err)
	require.NoError(t, survivor.Attach(ctx, stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{}))))
	checkSegs(t, NewSTMStore(survivor), "run/", 1100)

	require.NoError(t, survivor.Update(ctx, func(tx *stm.Tx) error { return DropSegments(tx, "run/") }))
	require.Equal(t, before, survivor.Stats().Objects, "the dropped segments left no object behind")
	_, err = NewSTMStore(survivor).LoadPages(ctx, "run/7")
	require.ErrorIs(t, err, ErrNoImage)
	checkSegs(t, NewSTMStore(survivor), "keep", 3)
}

// A segment saved again with more pages gets ids for them; a page outside
// the segment is refused.
func TestSTMStoreSegmentGrows(t *testing.T) {
	ctx := context.Background()
	bank, _ := stmtest.Mirrored(t)
	store := NewSTMStore(bank)
	require.NoError(t, store.SavePages(ctx, "s", 2, map[int][]byte{1: []byte("one")}))
	saveSegs(t, store, "other", 2) // takes the ids right after s's
	require.NoError(t, store.SavePages(ctx, "s", 5, map[int][]byte{4: []byte("four")}))
	got, err := store.LoadPages(ctx, "s")
	require.NoError(t, err)
	require.Equal(t, map[int][]byte{1: []byte("one"), 4: []byte("four")}, got)
	checkSegs(t, store, "other", 2)
	err = store.SavePages(ctx, "s", 5, map[int][]byte{5: []byte("five")})
	require.ErrorIs(t, err, ErrPageRange)
}
