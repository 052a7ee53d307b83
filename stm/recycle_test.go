package stm

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/stretchr/testify/require"
)

// serveOverTCP serves k on the accepting end of a loopback link.TCP pair
// (whose frame buffers the backup gives back) and attaches a bank to a
// RemoteMirror on the dialing end.
func serveOverTCP(t *testing.T, k *Backup, maxFrame int) *Bank {
	t.Helper()
	secret := []byte("stm-recycle-test-shared-secret!!")
	ln, err := link.Listen("127.0.0.1:0", link.Config{Name: "backup", Secret: secret})
	require.NoError(t, err)
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	accepted := make(chan *link.TCP, 1)
	go func() {
		l, _ := ln.Accept(ctx)
		accepted <- l
	}()
	d, err := link.Dial(ctx, ln.Addr(), link.Config{Name: "primary", Secret: secret})
	require.NoError(t, err)
	a := <-accepted
	require.NotNil(t, a)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ServeBackup(context.Background(), a, k)
	}()
	m := NewRemoteMirror(d, RemoteConfig{MaxFrame: maxFrame})
	t.Cleanup(func() { _ = m.Close(); <-done })
	b := NewBank(Config{})
	require.NoError(t, b.Attach(context.Background(), m))
	return b
}

// writePages commits pages ids, each filled with fill.
func writePages(t *testing.T, b *Bank, ids []ID, fill byte) {
	t.Helper()
	err := b.Update(context.Background(), func(tx *Tx) error {
		for _, id := range ids {
			if err := tx.Put(id, bytes.Repeat([]byte{fill}, 4096)); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
}

// backupMem returns the frame object id's backup version aliases.
func backupMem(k *Backup, id ID) *frameMem {
	k.mu.Lock()
	defer k.mu.Unlock()
	if o := k.objs[id]; o != nil {
		return o.mem
	}
	return nil
}

// givenBack reports, under the backup's lock, whether mem's buffer went
// back to its link.
func givenBack(k *Backup, mem *frameMem) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return mem.bodies == nil
}

// A checkpoint rewriting its pages frees the frames the previous one
// arrived in: the backup gives them back to the link, which reads later
// frames into them, and every version the backup holds stays intact. A
// frame that still carries live versions is kept.
func TestBackupGivesBackFramesNothingAliases(t *testing.T) {
	k := NewBackup(BackupConfig{})
	b := serveOverTCP(t, k, 128<<10)
	ids := make([]ID, 96) // three frames of about 31 pages each
	for i := range ids {
		ids[i] = ID(1000 + i)
	}
	writePages(t, b, ids, 1)
	first := backupMem(k, ids[0])
	require.NotNil(t, first, "a large frame's versions do not alias it")
	require.False(t, givenBack(k, first), "the backup's frames are not the link's to give back")
	for round := byte(2); round < 8; round++ {
		writePages(t, b, ids, round)
		require.Equal(t, b.Dump(), k.Dump(), "round %d", round)
	}
	require.True(t, givenBack(k, first), "the first checkpoint's frame, dead since, was not given back")

	kept := backupMem(k, ids[0])
	require.NotNil(t, kept)
	others := make([]ID, len(ids))
	for i := range others {
		others[i] = ID(5000 + i)
	}
	for round := byte(10); round < 16; round++ {
		writePages(t, b, ids[:3], round) // the rest of their frame stays live
		writePages(t, b, others, round)  // large frames: read into what was given back
		require.Equal(t, b.Dump(), k.Dump(), "round %d", round)
	}
	require.False(t, givenBack(k, kept), "a frame with live versions was given back")
	require.Same(t, kept, backupMem(k, ids[3]))
}
