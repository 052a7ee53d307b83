package stm

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// Data lent with PutBorrowed is committed as it was at Commit, on both
// banks, and the lender may change it once Commit has returned: the bank
// keeps its own copy. A WriteAt after PutBorrowed never writes into the
// lender's memory. Over both mirrors.
func TestPutBorrowedCommitsACopy(t *testing.T) {
	for _, remote := range []bool{false, true} {
		p := newPairOver(t, remote, Config{Logger: nopLogger()}, BackupConfig{})
		ctx := context.Background()
		lent := [][]byte{bytes.Repeat([]byte("a"), 8192), bytes.Repeat([]byte("b"), 100), []byte("cc")}
		require.NoError(t, p.b.Update(ctx, func(tx *Tx) error {
			for i, d := range lent {
				if err := tx.PutBorrowed(ID(i+1), d); err != nil {
					return err
				}
			}
			got, err := tx.Bytes(2)
			require.NoError(t, err)
			require.Equal(t, &lent[1][0], &got[0], "before commit the transaction reads the lent data itself")
			return tx.WriteAt(3, 1, []byte("Z")) // into a copy, not into lent[2]
		}))
		require.Equal(t, "cc", string(lent[2]))
		for _, d := range lent {
			d[0] = 'X' // the lender changes its memory after Commit
		}
		want := map[ID]string{1: string(bytes.Repeat([]byte("a"), 8192)), 2: string(bytes.Repeat([]byte("b"), 100)), 3: "cZ"}
		require.Equal(t, want, strMap(p.b.Dump()))
		require.Equal(t, want, strMap(p.k.Dump())) // the backup acks after applying
	}
}

// In a group, the copy is installed before Precommit returns: the lender may
// change its data while the transaction waits in phase 2.
func TestPutBorrowedInAGroup(t *testing.T) {
	p := newPair(t, Config{Logger: nopLogger()}, BackupConfig{})
	ctx := context.Background()
	lent := []byte("page")
	tx := p.b.Begin()
	require.NoError(t, tx.PutBorrowed(9, lent))
	require.NoError(t, tx.Precommit(ctx, 5))
	copy(lent, "XXXX")
	require.NoError(t, p.b.Decide(ctx, 5, true))
	require.NoError(t, tx.Wait(ctx))
	require.Equal(t, map[ID]string{9: "page"}, strMap(p.b.Dump()))
	require.Equal(t, map[ID]string{9: "page"}, strMap(p.k.Dump()))
}

// A commit that fails (no backup) leaves nothing behind and returns only
// once nothing reads the lent data any more.
func TestPutBorrowedCommitFails(t *testing.T) {
	p := newPair(t, Config{Logger: nopLogger()}, BackupConfig{})
	ctx := context.Background()
	put(t, p.b, 1, "old")
	p.lm.Cut()
	lent := []byte("new")
	err := p.b.Update(ctx, func(tx *Tx) error { return tx.PutBorrowed(1, lent) })
	require.True(t, errors.Is(err, ErrNoBackup), "got %v", err)
	copy(lent, "XXX")
	require.Equal(t, map[ID]string{1: "old"}, strMap(p.b.Dump()))
}

// Enough lent data to be copied on another goroutine (lendAsync), over both
// mirrors: the bank and the backup keep the bytes as they were at Commit.
func TestPutBorrowedCopiedConcurrently(t *testing.T) {
	for _, remote := range []bool{false, true} {
		p := newPairOver(t, remote, Config{Logger: nopLogger()}, BackupConfig{})
		mem := make([]byte, 2*lendAsync)
		for i := range mem {
			mem[i] = byte(i * 7)
		}
		want := bytes.Clone(mem)
		const page = 8192
		require.NoError(t, p.b.Update(context.Background(), func(tx *Tx) error {
			for off := 0; off < len(mem); off += page {
				if err := tx.PutBorrowed(ID(1+off/page), mem[off:off+page:off+page]); err != nil {
					return err
				}
			}
			return nil
		}))
		clear(mem)
		for name, objs := range map[string]map[ID][]byte{"primary": p.b.Dump(), "backup": p.k.Dump()} {
			require.Len(t, objs, len(mem)/page, name)
			for id, data := range objs {
				off := int(id-1) * page
				require.True(t, bytes.Equal(want[off:off+page], data), "%s object %d differs from the lent page", name, id)
			}
		}
	}
}
