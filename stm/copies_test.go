package stm

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// copyPages commits ids put with PutCopies, each a page filled with fill,
// and checks the sums it returned.
func copyPages(t *testing.T, b *Bank, ids []ID, fill byte) {
	t.Helper()
	pages := make([][]byte, len(ids))
	for i := range pages {
		pages[i] = bytes.Repeat([]byte{fill}, 8192)
	}
	require.NoError(t, b.Update(context.Background(), func(tx *Tx) error {
		sums, err := tx.PutCopies(ids, pages)
		for i, s := range sums {
			require.Equal(t, Checksum(pages[i]), s, "sum of page %d", i)
		}
		return err
	}))
}

// PutCopies commits copies, on both banks: the caller may change its data
// once it returns, and a WriteAt after it changes the object (its sum is
// dropped, so the frame's CRC is computed over the new bytes: the backup
// would refuse it otherwise). Enough objects to copy on several goroutines,
// over both mirrors.
func TestPutCopiesCommitsCopies(t *testing.T) {
	for _, remote := range []bool{false, true} {
		p := newPairOver(t, remote, Config{Logger: nopLogger()}, BackupConfig{})
		const n, page = 300, 8192
		mem := make([]byte, n*page)
		for i := range mem {
			mem[i] = byte(i * 7)
		}
		want := bytes.Clone(mem)
		ids, data := make([]ID, n), make([][]byte, n)
		for i := range ids {
			ids[i], data[i] = ID(i+1), mem[i*page:(i+1)*page]
		}
		require.NoError(t, p.b.Update(context.Background(), func(tx *Tx) error {
			if _, err := tx.PutCopies(ids, data); err != nil {
				return err
			}
			clear(mem) // the caller's memory: the copies are taken
			return tx.WriteAt(1, 3, []byte("Z"))
		}))
		want[3] = 'Z'
		for name, objs := range map[string]map[ID][]byte{"primary": p.b.Dump(), "backup": p.k.Dump()} {
			require.Len(t, objs, n, name)
			for id, got := range objs {
				off := int(id-1) * page
				require.True(t, bytes.Equal(want[off:off+page], got), "%s object %d (remote %v)", name, id, remote)
			}
		}
	}
}

// PutCopies refuses ids and data of different lengths.
func TestPutCopiesLengthsMustMatch(t *testing.T) {
	p := newPair(t, Config{Logger: nopLogger()}, BackupConfig{})
	err := p.b.Update(context.Background(), func(tx *Tx) error {
		_, err := tx.PutCopies([]ID{1, 2}, [][]byte{[]byte("a")})
		return err
	})
	require.ErrorIs(t, err, ErrBadRange)
}

// A frame whose pages carry their sums (PutCopies) gets the CRC of its
// bytes, combined from the sums: the assembler accepts it, fragments of an
// object too large for one frame included; a flipped byte anywhere in a
// page, and a page whose sum does not match its bytes, are refused.
func TestWireSummedFramesChecked(t *testing.T) {
	var frames [][]byte
	e := encoder{max: 64 << 10, emit: func(b []byte) error { frames = append(frames, append([]byte(nil), b...)); return nil }}
	var ws []Write
	for i := range 20 {
		data := bytes.Repeat([]byte{byte(i + 1)}, 8192)
		if i == 7 {
			data = bytes.Repeat([]byte{9}, 100_000) // fragmented
		}
		ws = append(ws, Write{ID: ID(i + 1), Seq: 4, Data: data, summed: true, sum: Checksum(data)})
	}
	p := &Prepare{Epoch: 1, Tx: 2, Commit: true, NextID: 50, Writes: ws}
	require.NoError(t, e.encode(prepareHead(p), p.Writes))
	require.Greater(t, len(frames), 3)
	var a assembler
	var msg *message
	for i, f := range frames {
		var err error
		msg, err = a.add(1, kindPrepare, f)
		require.NoError(t, err, "frame %d", i)
	}
	require.NotNil(t, msg)
	require.Len(t, msg.writes, len(ws))
	for i, w := range msg.writes {
		require.True(t, bytes.Equal(ws[i].Data, w.Data), "object %d", w.ID)
	}
	for i, f := range frames {
		for at := headLen + 11; at < len(f); at += 977 {
			bad := bytes.Clone(f)
			bad[at] ^= 0x40
			var b assembler
			_, err := b.add(1, kindPrepare, bad)
			require.True(t, errors.Is(err, ErrCorrupt), "flip at byte %d of frame %d not detected", at, i)
		}
	}

	frames = nil
	ws[2].sum++
	require.NoError(t, e.encode(prepareHead(p), ws[:4]))
	var b assembler
	_, err := b.add(1, kindPrepare, frames[0])
	require.ErrorIs(t, err, ErrCorrupt, "a page whose sum is not its bytes'")
}

// PutCopies takes each object's write lock as Put does: an object another
// transaction writes is a conflict (the transaction aborts), one it wrote
// itself before is replaced.
func TestPutCopiesLocksAsPutDoes(t *testing.T) {
	p := newPair(t, Config{Logger: nopLogger()}, BackupConfig{})
	ctx := context.Background()
	other := p.b.Begin()
	require.NoError(t, other.Put(5, []byte("other")))
	tx := p.b.Begin()
	_, err := tx.PutCopies([]ID{4, 5}, [][]byte{[]byte("four"), []byte("five")})
	require.ErrorIs(t, err, ErrConflict)
	require.ErrorIs(t, tx.Commit(ctx), ErrTxDone, "aborted by the conflict")
	require.NoError(t, other.Commit(ctx))

	require.NoError(t, p.b.Update(ctx, func(tx *Tx) error {
		if err := tx.Put(6, []byte("first")); err != nil {
			return err
		}
		_, err := tx.PutCopies([]ID{6, 7, 6}, [][]byte{[]byte("x"), []byte("seven"), []byte("six")})
		return err
	}))
	want := map[ID]string{5: "other", 6: "six", 7: "seven"}
	require.Equal(t, want, strMap(p.b.Dump()))
	require.Equal(t, want, strMap(p.k.Dump()))
}
