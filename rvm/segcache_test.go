package rvm

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// A store that remembers a segment's object follows a drop and a new
// segment of the same name made by another store: its next checkpoint
// writes the new segment's pages, not the dropped ids.
func TestSTMStoreRemembersOnlyTheLiveSegment(t *testing.T) {
	ctx := context.Background()
	bank, _ := stmtest.Mirrored(t)
	a, b := NewSTMStore(bank), NewSTMStore(bank)
	require.NoError(t, a.SavePages(ctx, "data", 4, map[int][]byte{1: []byte("a1")}))
	require.NoError(t, bank.Update(ctx, func(tx *stm.Tx) error { return DropSegments(tx, "data") }))
	require.NoError(t, b.SavePages(ctx, "data", 4, map[int][]byte{2: []byte("b2")}))

	require.NoError(t, a.SavePages(ctx, "data", 4, map[int][]byte{1: []byte("a1 again")}))
	got, err := b.LoadPages(ctx, "data")
	require.NoError(t, err)
	require.Equal(t, map[int][]byte{1: []byte("a1 again"), 2: []byte("b2")}, got)
}

// A store that remembers a segment's object sees another transaction
// rewrite it (here its checksum kind): the next checkpoint sums its pages
// as the object now says.
func TestSTMStoreRemembersOnlyTheCurrentObject(t *testing.T) {
	ctx := context.Background()
	bank, _ := stmtest.Mirrored(t)
	store := NewSTMStore(bank)
	require.NoError(t, store.SavePages(ctx, "data", 3, map[int][]byte{1: []byte("one")}))
	require.NoError(t, bank.Update(ctx, func(tx *stm.Tx) error { // CRC-32C sums from now on
		o := objectOf(t, tx, "data")
		o.Sum = sumCastagnoli
		sums := make([]byte, 12)
		binary.LittleEndian.PutUint32(sums[4:], crc32.Checksum([]byte("one"), castagnoli))
		if err := tx.Put(o.Sums, sums); err != nil {
			return err
		}
		return stm.Set(tx, o.id, o)
	}))

	require.NoError(t, store.SavePages(ctx, "data", 3, map[int][]byte{2: []byte("two")}))
	got, err := store.LoadPages(ctx, "data")
	require.NoError(t, err)
	require.Equal(t, map[int][]byte{1: []byte("one"), 2: []byte("two")}, got)
}

// A checkpoint of a segment whose page count did not change reads no
// directory: it still commits while the "rvm" namespace's directory cannot
// be decoded, which a resize (that must look the name up) cannot.
func TestSTMStoreCheckpointSkipsTheNamespace(t *testing.T) {
	ctx := context.Background()
	bank, _ := stmtest.Mirrored(t)
	store := NewSTMStore(bank)
	require.NoError(t, store.SavePages(ctx, "data", 2, map[int][]byte{0: []byte("zero")}))
	var dir stm.ID
	var saved []byte
	require.NoError(t, bank.Update(ctx, func(tx *stm.Tx) error {
		root, err := stm.Get[map[string]stm.ID](tx, stm.RootID)
		if err != nil {
			return err
		}
		dir = root["rvm"]
		if saved, err = tx.Bytes(dir); err != nil {
			return err
		}
		return tx.Put(dir, []byte{0xc1}) // never a msgpack value
	}))

	require.NoError(t, store.SavePages(ctx, "data", 2, map[int][]byte{1: []byte("one")}))
	require.Error(t, store.SavePages(ctx, "data", 3, map[int][]byte{2: []byte("two")}),
		"a resize reads the broken directory")
	require.NoError(t, bank.Update(ctx, func(tx *stm.Tx) error { return tx.Put(dir, saved) }))
	got, err := store.LoadPages(ctx, "data")
	require.NoError(t, err)
	require.Equal(t, map[int][]byte{0: []byte("zero"), 1: []byte("one")}, got)
}
