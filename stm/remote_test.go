package stm

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/stm/internal/connlink"
	"github.com/stretchr/testify/require"
)

// serveRemote starts k behind ServeBackup on one end of a loopback TCP
// link and returns a RemoteMirror on the other end, and a channel closed
// when ServeBackup returned.
func serveRemote(t testing.TB, k *Backup, cfg RemoteConfig) (*RemoteMirror, chan struct{}) {
	return serveRemoteWrapped(t, k, cfg, func(l link.Link) link.Link { return l })
}

func serveRemoteWrapped(t testing.TB, k *Backup, cfg RemoteConfig, wrap func(link.Link) link.Link) (*RemoteMirror, chan struct{}) {
	t.Helper()
	a, b, err := connlink.Pair()
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ServeBackup(context.Background(), b, k)
	}()
	m := NewRemoteMirror(wrap(a), cfg)
	t.Cleanup(func() { _ = m.Close(); <-done })
	return m, done
}

func TestRemoteMirrorStreamsLargeCommits(t *testing.T) {
	ctx := context.Background()
	k := NewBackup(BackupConfig{})
	m, _ := serveRemote(t, k, RemoteConfig{MaxFrame: 64 << 10})
	b := NewBank(Config{})
	require.NoError(t, b.Attach(ctx, m))
	big := bytes.Repeat([]byte("0123456789abcdef"), 200_000) // 3.2 MB: many fragments
	err := b.Update(ctx, func(tx *Tx) error {
		for i := range 64 {
			if err := tx.Put(ID(100+i), bytes.Repeat([]byte{byte(i)}, 8192)); err != nil {
				return err
			}
		}
		if err := tx.Put(1, big); err != nil {
			return err
		}
		return tx.Put(2, nil) // an empty object
	})
	require.NoError(t, err)
	put(t, b, 3, "small")
	require.NoError(t, b.Update(ctx, func(tx *Tx) error { return tx.Delete(100) }))
	tx := b.Begin()
	require.NoError(t, tx.Put(4, []byte("grouped")))
	require.NoError(t, tx.Precommit(ctx, 77))
	require.Equal(t, map[GroupID][]TxID{77: {tx.ID()}}, k.InDoubt())
	require.NoError(t, b.Decide(ctx, 77, true))
	require.Equal(t, b.Dump(), k.Dump())
	require.Len(t, k.Dump(), 67)
}

// A new backup joins over the link and gets a full copy.
func TestRemoteAttachFullCopy(t *testing.T) {
	ctx := context.Background()
	p := newPair(t, Config{}, BackupConfig{})
	for i := range 300 {
		put(t, p.b, ID(i), string(bytes.Repeat([]byte{byte(i)}, 8000)))
	}
	k2 := NewBackup(BackupConfig{})
	m, _ := serveRemote(t, k2, RemoteConfig{MaxFrame: 100 << 10})
	require.NoError(t, p.b.Attach(ctx, m))
	require.True(t, k2.Ready())
	require.Equal(t, p.b.Dump(), k2.Dump())
}

// corruptLink flips one byte of the nth frame it sends.
type corruptLink struct {
	link.Link
	n, at int
}

func (c *corruptLink) Send(ctx context.Context, f link.Frame) error {
	c.n++
	if c.n == c.at {
		f.Body = append([]byte(nil), f.Body...)
		f.Body[len(f.Body)/2] ^= 0x40
	}
	return c.Link.Send(ctx, f)
}

// A corrupt mirror stream is detected by its checksum, refused with a
// clear error and never applied.
func TestRemoteCorruptStreamNeverApplied(t *testing.T) {
	ctx := context.Background()
	k := NewBackup(BackupConfig{})
	// Frames: first load, last load, one small commit, then the big commit in
	// three frames; the last of them is corrupted (corrupting an earlier one
	// can make the primary see the link close before the backup's answer).
	cl := &corruptLink{at: 6}
	m, done := serveRemoteWrapped(t, k, RemoteConfig{MaxFrame: 16 << 10}, func(l link.Link) link.Link {
		cl.Link = l
		return cl
	})
	b := NewBank(Config{})
	require.NoError(t, b.Attach(ctx, m))
	put(t, b, 1, "one")
	err := b.Update(ctx, func(tx *Tx) error {
		_ = tx.Put(2, bytes.Repeat([]byte("x"), 40_000))
		return tx.Put(3, []byte("three"))
	})
	require.Equal(t, 6, cl.n, "frames sent")
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorIs(t, err, ErrNoBackup)
	<-done
	require.Equal(t, map[ID]string{1: "one"}, strMap(k.Dump()))
	require.Equal(t, map[ID]string{1: "one"}, strMap(b.Dump()))
}

// Every single-byte corruption of a frame is caught by the CRC.
func TestWireDetectsEveryByteFlip(t *testing.T) {
	var frames [][]byte
	e := encoder{max: 1 << 16, emit: func(b []byte) error { frames = append(frames, append([]byte(nil), b...)); return nil }}
	p := &Prepare{Epoch: 3, Tx: 9, Group: 2, Commit: true, NextID: 77,
		Writes: []Write{{ID: 1, Seq: 5, Data: []byte("hello")}, {ID: 2, Seq: 5, Deleted: true}}}
	require.NoError(t, e.encode(prepareHead(p), p.Writes))
	require.Len(t, frames, 1)
	var a assembler
	msg, err := a.add(1, kindPrepare, frames[0])
	require.NoError(t, err)
	for i := range msg.writes {
		msg.writes[i].mem = nil
	}
	require.Equal(t, p.Writes, msg.writes)
	for i := range frames[0] {
		bad := append([]byte(nil), frames[0]...)
		bad[i] ^= 1
		_, err := a.add(1, kindPrepare, bad)
		require.True(t, errors.Is(err, ErrCorrupt), "flip at byte %d not detected", i)
	}
	_, err = a.add(1, kindPrepare, frames[0][:10])
	require.ErrorIs(t, err, ErrCorrupt, "truncated frame")
	require.ErrorIs(t, decodeAck([]byte{0, 1, 2}), ErrCorrupt)
}

// Reference: §2.2 — a stale primary whose backup took over while the link
// still worked (a partition seen from one side) is refused with ErrFenced.
func TestRemoteStalePrimaryFenced(t *testing.T) {
	ctx := context.Background()
	k := NewBackup(BackupConfig{})
	m, _ := serveRemote(t, k, RemoteConfig{})
	b := NewBank(Config{})
	require.NoError(t, b.Attach(ctx, m))
	put(t, b, 1, "a")
	nb, _, err := k.Takeover(ctx, Config{})
	require.NoError(t, err)
	err = b.Update(ctx, func(tx *Tx) error { return tx.Put(1, []byte("stale")) })
	require.ErrorIs(t, err, ErrFenced)
	require.Equal(t, map[ID]string{1: "a"}, strMap(nb.Dump()))
}

// Versions received in one frame alias it; once most of the frame is dead
// the survivors are copied out, so a long-lived version never pins a large
// frame.
func TestBackupReleasesSharedFrames(t *testing.T) {
	k := NewBackup(BackupConfig{})
	require.NoError(t, k.load(&Chunk{Epoch: 1, First: true, Last: true}))
	ship := func(seq uint64, ids ...ID) *frameMem { return shipPrepare(t, k, seq, ids) }
	ids := make([]ID, 8)
	for i := range ids {
		ids[i] = ID(i + 1)
	}
	mem := ship(1, ids...)
	require.NotNil(t, mem)
	require.Equal(t, 8*8192, mem.live)
	ship(2, ids[:3]...) // 5 of 8 still alive: more than half
	require.Same(t, mem, k.objs[8].mem)
	ship(3, ids[3]) // 4 of 8 (minus headers): below half, survivors copied out
	for _, id := range ids[4:] {
		require.Nil(t, k.objs[id].mem, "object %d still pins the frame", id)
		require.Equal(t, bytes.Repeat([]byte{1}, 8192), k.objs[id].data)
	}
	require.Equal(t, bytes.Repeat([]byte{3}, 8192), k.objs[4].data)
}
