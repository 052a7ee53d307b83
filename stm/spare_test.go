package stm

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// lendPages commits ids lent with PutBorrowed, each a page filled with fill.
func lendPages(t *testing.T, b *Bank, ids []ID, fill byte) {
	t.Helper()
	require.NoError(t, b.Update(context.Background(), func(tx *Tx) error {
		for _, id := range ids {
			if err := tx.PutBorrowed(id, bytes.Repeat([]byte{fill}, 8192)); err != nil {
				return err
			}
		}
		return nil
	}))
}

// committedAt returns the address of each object's committed bytes.
func committedAt(b *Bank, ids []ID) map[*byte]bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[*byte]bool{}
	for _, id := range ids {
		out[&b.objs[id].data[0]] = true
	}
	return out
}

// A page's copy (of a lent page, or made by PutCopies) superseded before
// any reader was handed it is the buffer a later copy of its size is made
// in; a copy a reader was handed (Bytes) is never reused, so what the
// reader holds stays as it was. Over both mirrors.
func TestLentCopiesReuseSupersededBuffers(t *testing.T) {
	for _, remote := range []bool{false, true} {
		for name, commit := range map[string]func(*testing.T, *Bank, []ID, byte){"lent": lendPages, "copies": copyPages} {
			p := newPairOver(t, remote, Config{Logger: nopLogger()}, BackupConfig{})
			checkSpareReuse(t, p, commit, name)
		}
	}
}

// checkSpareReuse commits pages with commit, and checks that a superseded
// copy's buffer is reused and a reader's bytes are not.
func checkSpareReuse(t *testing.T, p *pair, commit func(*testing.T, *Bank, []ID, byte), name string) {
	ids := []ID{1, 2, 3, 4, 5, 6, 7, 8}
	commit(t, p.b, ids, 1)
	first := committedAt(p.b, ids)
	commit(t, p.b, ids, 2)
	commit(t, p.b, ids, 3)
	reused := 0
	for at := range committedAt(p.b, ids) {
		if first[at] {
			reused++
		}
	}
	require.NotZero(t, reused, "no copy was made in a superseded one's buffer (%s)", name)

	var held []byte
	require.NoError(t, p.b.View(context.Background(), func(tx *Tx) error {
		var err error
		held, err = tx.Bytes(ids[0])
		return err
	}))
	for fill := byte(4); fill < 9; fill++ {
		commit(t, p.b, ids, fill)
		require.Equal(t, p.b.Dump(), p.k.Dump())
	}
	require.Equal(t, bytes.Repeat([]byte{3}, 8192), held, "a reader's bytes were reused (%s)", name)
}
