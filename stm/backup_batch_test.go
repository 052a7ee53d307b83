package stm

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// A request replacing every version a frame holds (a checkpoint rewriting
// its pages, in any order) copies nothing out of that frame: the backup
// compacts frames once the whole request is applied, not half-way through.
// A request replacing only some still copies the survivors out.
func TestBackupCompactsAfterTheBatch(t *testing.T) {
	k := NewBackup(BackupConfig{})
	require.NoError(t, k.load(&Chunk{Epoch: 1, First: true, Last: true}))
	ship := func(seq uint64, ids []ID) *frameMem { return shipPrepare(t, k, seq, ids) }
	ids := make([]ID, 64)
	for i := range ids {
		ids[i] = ID(i + 1)
	}
	first := ship(1, ids)
	rng := rand.New(rand.NewSource(1))
	for seq := uint64(2); seq < 6; seq++ {
		rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		ship(seq, ids)
		require.Zero(t, k.copied, "rewrite %d copied versions out of frames it replaced whole", seq)
	}
	require.Nil(t, first.ids, "the first frame is released")
	ship(6, ids[:40]) // 24 of 64 left in the frame of request 5: copied out
	require.Equal(t, 24*8192, k.copied)
	for _, id := range ids[40:] {
		require.Nil(t, k.objs[id].mem)
		require.True(t, bytes.Equal(bytes.Repeat([]byte{5}, 8192), k.objs[id].data))
	}
}

// shipPrepare hands k, as one frame off the link, a committed transaction
// seq writing an 8 KiB page filled with byte(seq) to each of ids, and
// returns the frame's memory its versions share.
func shipPrepare(t *testing.T, k *Backup, seq uint64, ids []ID) *frameMem {
	t.Helper()
	var body []byte
	e := encoder{max: 1 << 20, emit: func(b []byte) error { body = append([]byte(nil), b...); return nil }}
	p := &Prepare{Epoch: 1, Tx: TxID(seq), Commit: true}
	for _, id := range ids {
		p.Writes = append(p.Writes, Write{ID: id, Seq: seq, Data: bytes.Repeat([]byte{byte(seq)}, 8192)})
	}
	require.NoError(t, e.encode(prepareHead(p), p.Writes))
	var a assembler
	msg, err := a.add(seq, kindPrepare, body)
	require.NoError(t, err)
	require.NoError(t, k.apply(msg))
	return msg.writes[0].mem
}
