package stm

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fileWorkload commits a mix on b and leaves group 30 in phase 2.
func fileWorkload(t *testing.T, b *Bank) {
	ctx := context.Background()
	put(t, b, 1, "one")
	put(t, b, 2, "two")
	require.NoError(t, b.Update(ctx, func(tx *Tx) error { return tx.Put(3, bytes.Repeat([]byte("p"), 8192)) }))
	require.NoError(t, b.Update(ctx, func(tx *Tx) error { return tx.Delete(2) }))
	for g, commit := range map[GroupID]bool{10: true, 20: false} {
		tx := b.Begin()
		require.NoError(t, tx.Put(ID(g), []byte("grouped")))
		require.NoError(t, tx.Precommit(ctx, g))
		require.NoError(t, b.Decide(ctx, g, commit))
	}
	tx := b.Begin()
	require.NoError(t, tx.Put(1, []byte("in doubt")))
	require.NoError(t, tx.Precommit(ctx, 30))
}

func openFileBank(t *testing.T, path string, cfg FileConfig) (*FileMirror, *Bank) {
	t.Helper()
	fm, err := OpenFile(path, cfg)
	require.NoError(t, err)
	b := NewBank(Config{})
	require.NoError(t, b.Attach(context.Background(), fm))
	return fm, b
}

// The file-backed bank survives a restart of everything (power loss): the
// log replays to exactly the committed state, with the phase 2 group still
// in doubt, and the recovered primary can attach the same log again.
func TestFileBankRecoversAfterRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stm.log")
	fm, b := openFileBank(t, path, FileConfig{})
	fileWorkload(t, b)
	want := strMap(b.Dump())
	require.NoError(t, fm.Close()) // the machine loses power; the log stays

	fm2, err := OpenFile(path, FileConfig{})
	require.NoError(t, err)
	nb, rep, err := fm2.Recovered().Takeover(ctx, Config{})
	require.NoError(t, err)
	require.Equal(t, want, strMap(nb.Dump()))
	require.Len(t, rep.InDoubt[30], 1)
	require.NoError(t, nb.Attach(ctx, fm2))
	require.NoError(t, nb.Decide(ctx, 30, true))
	put(t, nb, 4, "four")
	want[1], want[4] = "in doubt", "four"
	require.NoError(t, fm2.Close())

	fm3, err := OpenFile(path, FileConfig{})
	require.NoError(t, err)
	require.Equal(t, want, strMap(fm3.Recovered().Dump()))
	require.Empty(t, fm3.Recovered().InDoubt())
}

// Every flipped byte of the log is detected: OpenFile fails with ErrCorrupt
// and never loads it.
func TestFileCorruptLogRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stm.log")
	fm, b := openFileBank(t, path, FileConfig{})
	put(t, b, 1, "one")
	require.NoError(t, b.Update(context.Background(), func(tx *Tx) error { return tx.Put(2, []byte("two")) }))
	require.NoError(t, fm.Close())
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	bad := filepath.Join(t.TempDir(), "bad.log")
	for i := range good {
		flipped := bytes.Clone(good)
		flipped[i] ^= 0x10
		require.NoError(t, os.WriteFile(bad, flipped, 0o600))
		_, err := OpenFile(bad, FileConfig{RepairTornTail: true})
		require.ErrorIs(t, err, ErrCorrupt, "flip at byte %d of %d loaded", i, len(good))
	}
}

// A log cut inside a record is refused (ErrTornTail) unless repair is
// asked for, which drops exactly the unacknowledged last record.
func TestFileTruncatedLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stm.log")
	fm, b := openFileBank(t, path, FileConfig{})
	put(t, b, 1, "one")
	size1 := fileSize(t, path)
	put(t, b, 2, "two")
	require.NoError(t, fm.Close())
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	cut := filepath.Join(t.TempDir(), "cut.log")
	for n := size1 + 1; n < int64(len(good)); n++ {
		require.NoError(t, os.WriteFile(cut, good[:n], 0o600))
		_, err := OpenFile(cut, FileConfig{})
		require.ErrorIs(t, err, ErrTornTail, "cut at %d", n)
		fm, err := OpenFile(cut, FileConfig{RepairTornTail: true})
		require.NoError(t, err)
		require.Equal(t, map[ID]string{1: "one"}, strMap(fm.Recovered().Dump()))
		require.NoError(t, fm.Close())
		require.Equal(t, size1, fileSize(t, cut), "torn tail truncated")
	}
}

func fileSize(t *testing.T, path string) int64 {
	st, err := os.Stat(path)
	require.NoError(t, err)
	return st.Size()
}

// Compaction keeps the log near the live data and loses nothing.
func TestFileCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stm.log")
	fm, b := openFileBank(t, path, FileConfig{CompactBytes: 64 << 10})
	page := bytes.Repeat([]byte("x"), 4096)
	for i := range 200 {
		require.NoError(t, b.Update(context.Background(), func(tx *Tx) error {
			return tx.Put(ID(i%4), append([]byte{byte(i)}, page...))
		}))
	}
	require.Less(t, fileSize(t, path), int64(3*64<<10))
	want := strMap(b.Dump())
	require.NoError(t, fm.Close())
	fm2, err := OpenFile(path, FileConfig{})
	require.NoError(t, err)
	require.Equal(t, want, strMap(fm2.Recovered().Dump()))
}

// Tee mirrors to a remote backup and a file at once.
func TestTeeRemoteAndFile(t *testing.T) {
	ctx := context.Background()
	k := NewBackup(BackupConfig{})
	rm, _ := serveRemote(t, k, RemoteConfig{})
	fm, err := OpenFile(filepath.Join(t.TempDir(), "stm.log"), FileConfig{})
	require.NoError(t, err)
	b := NewBank(Config{})
	require.NoError(t, b.Attach(ctx, Tee(rm, fm)))
	fileWorkload(t, b)
	require.Equal(t, b.Dump(), k.Dump())
	require.Equal(t, b.Dump(), fm.Recovered().Dump())
}

// A commit larger than a record streams as several records; a log cut
// inside it loses exactly that (unacknowledged) commit on repair.
func TestFileMultiRecordCommitTorn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stm.log")
	cfg := FileConfig{MaxRecord: 16 << 10}
	fm, b := openFileBank(t, path, cfg)
	put(t, b, 1, "one")
	size1 := fileSize(t, path)
	big := bytes.Repeat([]byte("b"), 100_000)
	require.NoError(t, b.Update(context.Background(), func(tx *Tx) error { return tx.Put(2, big) }))
	require.NoError(t, fm.Close())
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Greater(t, int64(len(good))-size1, int64(len(big)))

	fm2, err := OpenFile(path, cfg)
	require.NoError(t, err)
	require.Equal(t, big, fm2.Recovered().Dump()[2])
	require.NoError(t, fm2.Close())

	cut := filepath.Join(t.TempDir(), "cut.log")
	for _, n := range []int64{size1 + 20_000, size1 + 16<<10 + recHeadLen, int64(len(good)) - 1} {
		require.NoError(t, os.WriteFile(cut, good[:n], 0o600))
		_, err := OpenFile(cut, cfg)
		require.ErrorIs(t, err, ErrTornTail, "cut at %d", n)
		rcfg := cfg
		rcfg.RepairTornTail = true
		fm, err := OpenFile(cut, rcfg)
		require.NoError(t, err)
		require.Equal(t, map[ID]string{1: "one"}, strMap(fm.Recovered().Dump()), "cut at %d", n)
		require.NoError(t, fm.Close())
		require.Equal(t, size1, fileSize(t, cut))
	}
}

// Pages lent with PutBorrowed are in the log's image as they were at the
// commit: the lender changes them once Commit (or Precommit) returned, a
// compaction then writes the image as a snapshot, and the reloaded log
// still holds the committed bytes.
func TestFileKeepsBorrowedPagesAsCommitted(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stm.log")
	fm, b := openFileBank(t, path, FileConfig{CompactBytes: 64 << 10})
	alone, grouped := bytes.Repeat([]byte("a"), 4096), bytes.Repeat([]byte("g"), 4096)
	require.NoError(t, b.Update(ctx, func(tx *Tx) error { return tx.PutBorrowed(1, alone) }))
	tx := b.Begin()
	require.NoError(t, tx.PutBorrowed(2, grouped))
	require.NoError(t, tx.Precommit(ctx, 7))
	copy(alone, bytes.Repeat([]byte("X"), 4096)) // the task runs on
	copy(grouped, bytes.Repeat([]byte("Y"), 4096))
	require.NoError(t, b.Decide(ctx, 7, true))
	require.NoError(t, tx.Wait(ctx))
	want := map[ID]string{1: strings.Repeat("a", 4096), 2: strings.Repeat("g", 4096)}
	require.Equal(t, want, strMap(fm.Recovered().Dump()), "the log's image")

	churn := bytes.Repeat([]byte("c"), 4096)
	written := 0
	for range 40 { // past CompactBytes and twice the live data: a compaction
		put(t, b, 3, string(churn))
		written += len(churn)
	}
	require.Less(t, fileSize(t, path), int64(written), "the log was compacted")
	want[3] = string(churn)
	require.NoError(t, fm.Close())
	fm2, err := OpenFile(path, FileConfig{})
	require.NoError(t, err)
	require.Equal(t, want, strMap(fm2.Recovered().Dump()), "the compacted log, reloaded")
	require.NoError(t, fm2.Close())
}
