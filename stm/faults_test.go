package stm

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/stretchr/testify/require"
)

// A faulty link (kernel/link's in-memory pair with scripted fates) that
// reorders, duplicates or drops one frame of the primary's stream: the
// backup detects it (frame numbers, request sequence numbers), refuses the
// request with ErrCorrupt, and never holds part of a transaction.
func TestRemoteDetectsLinkFaults(t *testing.T) {
	// Frames from the primary: 1 first load, 2 last load, 3 small commit,
	// 4-6 the three frames of the big commit, 7 the next small commit.
	cases := []struct {
		name  string
		frame int64
		fate  link.Fate
	}{
		{"reorder-first-frame", 4, link.Reorder},
		{"duplicate-middle-frame", 5, link.Duplicate},
		{"drop-middle-frame", 5, link.Drop},
		{"duplicate-whole-request", 3, link.Duplicate},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { linkFaultCase(t, c.frame, c.fate) })
	}
}

func linkFaultCase(t *testing.T, frame int64, fate link.Fate) {
	ctx := context.Background()
	var n atomic.Int64
	pl, bl := link.NewMemPair("primary", "backup", link.MemConfig{Script: func(from string, f link.Frame) link.Fate {
		if from == "primary" && n.Add(1) == frame {
			return fate
		}
		return link.Deliver
	}})
	k := NewBackup(BackupConfig{})
	served := make(chan error, 1)
	go func() { served <- ServeBackup(ctx, bl, k) }()
	b := NewBank(Config{})
	require.NoError(t, b.Attach(ctx, NewRemoteMirror(pl, RemoteConfig{MaxFrame: 16 << 10})))
	put(t, b, 1, "one")
	big := bytes.Repeat([]byte("b"), 40_000)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second) // only unblocks a lost ack
	defer cancel()
	errBig := b.Update(cctx, func(tx *Tx) error { return tx.Put(2, big) })
	errNext := b.Update(cctx, func(tx *Tx) error { return tx.Put(3, []byte("three")) })
	select {
	case err := <-served:
		require.ErrorIs(t, err, ErrCorrupt, "the backup must notice the fault")
	case <-time.After(10 * time.Second): // a guard against hanging, not a timing check
		t.Fatal("the backup never noticed the fault")
	}
	got := strMap(k.Dump())
	require.Equal(t, "one", got[1])
	if errBig == nil {
		require.Equal(t, string(big), got[2], "reported committed but missing")
	} else {
		require.NotContains(t, got, ID(2), "a refused commit left a trace")
	}
	if errNext != nil {
		require.NotContains(t, got, ID(3))
	}
	require.Error(t, errNext, "the link is gone after the fault")
}
