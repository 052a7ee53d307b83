package rvm

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

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
		obj, err := tx.Bytes(segBase(0) + 1)
		if err != nil {
			return err
		}
		bad := bytes.Clone(obj)
		bad[0] ^= 0xff
		return tx.Put(segBase(0)+1, bad)
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
		return tx.WriteAt(sumID(0), 4*2, []byte{0, 0, 0, 0})
	}))
	require.ErrorIs(t, s.Restore(ctx, store), ErrCorruptPage)
	require.NoError(t, bank.Update(ctx, func(tx *stm.Tx) error { return tx.Delete(sumID(0)) }))
	require.ErrorIs(t, s.Restore(ctx, store), ErrCorruptPage)
}

// A directory written before IEEE page checksums (no sum kind: CRC-32C)
// still restores, and is still checked.
func TestSTMStoreReadsCastagnoliSums(t *testing.T) {
	ctx := context.Background()
	bank, _ := stmtest.Mirrored(t)
	store := NewSTMStore(bank)
	s := newSeg(t, Compare, 3)
	copy(s.Bytes()[ps:], "legacy")
	_, err := s.Checkpoint(ctx, store)
	require.NoError(t, err)
	require.NoError(t, bank.Update(ctx, func(tx *stm.Tx) error { // rewrite as an old store would have
		dir, err := segDir.Get(tx)
		if err != nil {
			return err
		}
		e := dir["data"]
		require.Equal(t, sumIEEE, e.Sum)
		e.Sum = sumCastagnoli
		dir["data"] = e
		page, err := tx.Bytes(segBase(0) + 1)
		if err != nil {
			return err
		}
		sums := make([]byte, 12)
		binary.LittleEndian.PutUint32(sums[4:], crc32.Checksum(page, castagnoli))
		if err := tx.Put(sumID(0), sums); err != nil {
			return err
		}
		return segDir.Set(tx, dir)
	}))
	clear(s.Bytes())
	require.NoError(t, s.Restore(ctx, store))
	require.Equal(t, "legacy", string(s.Bytes()[ps:ps+6]))
	require.NoError(t, bank.Update(ctx, func(tx *stm.Tx) error {
		return tx.WriteAt(sumID(0), 4, []byte{1, 2, 3, 4})
	}))
	require.ErrorIs(t, s.Restore(ctx, store), ErrCorruptPage)
}
