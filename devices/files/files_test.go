package files

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/internal/proctest"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

func sum(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b))[:12] }

func TestOpenSaveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o600))
	bank, _ := stmtest.Mirrored(t)
	s := New(Config{Bank: bank})
	data, err := s.Open(ctx, path)
	require.NoError(t, err)
	require.Equal(t, "old", string(data))
	require.NoError(t, s.Save(ctx, path, []byte("new content")))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "new content", string(got))
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "a save keeps the file's permissions")
	data, err = s.Open(ctx, path)
	require.NoError(t, err)
	require.Equal(t, "new content", string(data))
	fs, err := s.Files(ctx)
	require.NoError(t, err)
	require.Len(t, fs, 1)
	require.Equal(t, uint64(1), fs[0].OnDisk)
}

func TestOpenMissingFileIsEmpty(t *testing.T) {
	bank, _ := stmtest.Mirrored(t)
	data, err := New(Config{Bank: bank}).Open(context.Background(), filepath.Join(t.TempDir(), "new.txt"))
	require.NoError(t, err)
	require.Empty(t, data)
}

// A save recorded in a checkpoint transaction that aborts never reaches
// the disk.
func TestSaveTxHappensOnlyIfCommitted(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "f")
	bank, _ := stmtest.Mirrored(t)
	s := New(Config{Bank: bank})
	err := bank.Update(ctx, func(tx *stm.Tx) error {
		require.NoError(t, s.SaveTx(tx, path, []byte("never")))
		return errors.New("checkpoint aborted")
	})
	require.Error(t, err)
	require.NoError(t, s.Flush(ctx))
	_, err = os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist)
}

// A crash at each step of a save (simulated: the failpoint stops the
// save), then a takeover: the survivor's Recover finishes the committed
// save, and the file holds the new content, with no temporary file left.
func TestTakeoverFinishesACommittedSave(t *testing.T) {
	for _, fp := range Failpoints {
		t.Run(fp, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			path := filepath.Join(dir, "doc.txt")
			require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))
			bank, backup := stmtest.Mirrored(t)
			s := New(Config{Bank: bank, Failpoint: failpoint.Once(fp, path)})
			_, err := s.Open(ctx, path)
			require.NoError(t, err)
			require.ErrorIs(t, s.Save(ctx, path, []byte("new")), failpoint.ErrCrash)
			// The primary is gone; its backup takes over.
			s2 := New(Config{Bank: stmtest.Survivor(t, backup)})
			require.NoError(t, s2.Recover(ctx))
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, "new", string(got))
			require.Equal(t, []string{"doc.txt"}, ls(t, dir))
		})
	}
}

func ls(t *testing.T, dir string) []string {
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestCrashAtEachStepOfWriteAtomic kills a real child process with
// SIGKILL at each failpoint of a save and checks that the file on disk
// holds the old content (before the rename) or the new (from the rename
// on), never part of either, and that RemoveTemps clears what the crash
// left.
func TestCrashAtEachStepOfWriteAtomic(t *testing.T) {
	oldData := []byte(strings.Repeat("old line\n", 5000))
	newData := []byte(strings.Repeat("the new text\n", 7000))
	for i, fp := range Failpoints {
		t.Run(fp, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "doc.txt")
			require.NoError(t, os.WriteFile(path, oldData, 0o644))
			require.NoError(t, os.WriteFile(path+".new", newData, 0o644))
			r := proctest.Run(t, proctest.Spec{Role: "crash", Args: []string{fp, path}, Timeout: time.Minute})
			var ee *exec.ExitError
			require.ErrorAs(t, r.Err, &ee, "child should die: %s%s", r.Stdout, r.Stderr)
			require.Equal(t, syscall.SIGKILL, ee.Sys().(syscall.WaitStatus).Signal())
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			want := oldData
			if i >= 5 { // files.save.renamed and after
				want = newData
			}
			require.Equal(t, sum(want), sum(got), "file after a crash at %s (len %d)", fp, len(got))
			require.NoError(t, RemoveTemps(path))
			require.ElementsMatch(t, []string{"doc.txt", "doc.txt.new"}, ls(t, dir))
		})
	}
}

var roles = proctest.Roles{"crash": crashChild}

func TestHelperProcess(t *testing.T) { os.Exit(proctest.Dispatch(t, os.Stderr, roles)) }

// crashChild, the child of TestCrashAtEachStepOfWriteAtomic, saves the
// content of path+".new" to path (its arguments: a failpoint and the path)
// and kills itself with SIGKILL at the failpoint.
func crashChild(args []string) error {
	fp, path := args[0], args[1]
	data, err := os.ReadFile(path + ".new")
	if err != nil {
		return err
	}
	_ = WriteAtomic(path, data, func(point, subject string) error {
		if point == fp && subject == path {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		return nil
	})
	return errors.New("the failpoint was not reached")
}
