package stm

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Concurrent committers share one fdatasync (group commit): while the
// first committer's sync is held back, the others write their records and
// wait; the sync that then runs covers them all, and every commit is in the
// log after a restart.
func TestFileGroupCommit(t *testing.T) {
	const committers = 8
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stm.log")
	fm, b := openFileBank(t, path, FileConfig{})
	fm.mu.Lock()
	base, off := fm.written, fm.size // fm.size: the log's length, where the new records start
	syncsBefore := fm.syncs
	fm.mu.Unlock()
	var once sync.Once
	release := make(chan struct{})
	fm.beforeSync = func() {
		once.Do(func() { <-release })
	}

	var wg sync.WaitGroup
	errs := make(chan error, committers)
	for i := range committers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- b.Update(ctx, func(tx *Tx) error { return tx.Put(ID(100+i), fmt.Appendf(nil, "v%d", i)) })
		}()
	}
	require.Eventually(t, func() bool { // every committer's record is written
		fm.mu.Lock()
		defer fm.mu.Unlock()
		return fm.written > base && countRecordsSince(t, path, off) == committers
	}, 10*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	fm.mu.Lock()
	syncs := fm.syncs - syncsBefore
	fm.mu.Unlock()
	require.Equal(t, int64(1), syncs, "one sync for all the committers")

	want := strMap(b.Dump())
	require.NoError(t, fm.Close())
	fm2, err := OpenFile(path, FileConfig{})
	require.NoError(t, err)
	defer fm2.Close()
	nb, _, err := fm2.Recovered().Takeover(ctx, Config{})
	require.NoError(t, err)
	require.Equal(t, want, strMap(nb.Dump()))
	for i := range committers {
		require.Equal(t, fmt.Sprintf("v%d", i), want[ID(100+i)])
	}
}

// countRecordsSince counts the complete log records written from offset
// base on.
func countRecordsSince(t *testing.T, path string, base int64) int {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Seek(base, io.SeekStart)
	require.NoError(t, err)
	r := bufio.NewReader(f)
	n := 0
	for {
		if _, _, err := readRecord(r); err != nil {
			return n
		}
		n++
	}
}
