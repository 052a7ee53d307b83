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

// countingMirror counts the round trips to the backup and keeps the last
// phase 1 message.
type countingMirror struct {
	stm.Mirror
	prepares int
	last     []stm.ID
}

func (m *countingMirror) Prepare(ctx context.Context, p *stm.Prepare) error {
	m.prepares++
	m.last = m.last[:0]
	for _, w := range p.Writes {
		m.last = append(m.last, w.ID)
	}
	return m.Mirror.Prepare(ctx, p)
}

// A checkpoint of segments whose page counts did not change is one STM
// transaction, one round trip to the backup, and writes only the dirty
// pages and each segment's checksum object (no segment object, no
// directory).
func TestSTMStoreCheckpointIsOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	bank := stm.NewBank(stm.Config{})
	mirror := &countingMirror{Mirror: stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{}))}
	require.NoError(t, bank.Attach(ctx, mirror))
	store := NewSTMStore(bank)
	batch := []SegmentPages{
		{Segment: "data", NPages: 4, Pages: map[int][]byte{0: []byte("d0"), 3: []byte("d3")}},
		{Segment: "stack", NPages: 2, Pages: map[int][]byte{1: []byte("s1")}},
	}
	require.NoError(t, store.SaveBatch(ctx, batch))
	before, trips := bank.Stats(), mirror.prepares

	require.NoError(t, store.SaveBatch(ctx, batch))
	after := bank.Stats()
	require.Equal(t, before.Committed+1, after.Committed, "one transaction")
	require.Equal(t, before.Aborted, after.Aborted, "no transaction run again")
	require.Equal(t, trips+1, mirror.prepares, "one round trip to the backup")
	var want []stm.ID
	require.NoError(t, bank.View(ctx, func(tx *stm.Tx) error {
		d, s := objectOf(t, tx, "data"), objectOf(t, tx, "stack")
		want = []stm.ID{pageOf(t, tx, "data", 0), pageOf(t, tx, "data", 3), d.Sums, pageOf(t, tx, "stack", 1), s.Sums}
		return nil
	}))
	require.Equal(t, want, mirror.last, "the pages and checksum objects, nothing else")
}
