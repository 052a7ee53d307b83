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

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/stm"
)

func mirrored(t *testing.T) (*stm.Bank, *stm.Backup) {
	t.Helper()
	bank, backup := stm.NewBank(stm.Config{}), stm.NewBackup(stm.BackupConfig{})
	require.NoError(t, bank.Attach(context.Background(), stm.NewLocalMirror(backup)))
	return bank, backup
}

// survivor takes backup over and gives it a fresh backup of its own.
func survivor(t *testing.T, backup *stm.Backup) *stm.Bank {
	t.Helper()
	b, _, err := backup.Takeover(context.Background(), stm.Config{})
	require.NoError(t, err)
	require.NoError(t, b.Attach(context.Background(), stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{}))))
	return b
}

func sum(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b))[:12] }

func TestOpenSaveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o600))
	bank, _ := mirrored(t)
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
	bank, _ := mirrored(t)
	data, err := New(Config{Bank: bank}).Open(context.Background(), filepath.Join(t.TempDir(), "new.txt"))
	require.NoError(t, err)
	require.Empty(t, data)
}

// A save recorded in a checkpoint transaction that aborts never reaches
// the disk.
func TestSaveTxHappensOnlyIfCommitted(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "f")
	bank, _ := mirrored(t)
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
			bank, backup := mirrored(t)
			s := New(Config{Bank: bank, Failpoint: failpoint.Once(fp, path)})
			_, err := s.Open(ctx, path)
			require.NoError(t, err)
			require.ErrorIs(t, s.Save(ctx, path, []byte("new")), failpoint.ErrCrash)
			// The primary is gone; its backup takes over.
			s2 := New(Config{Bank: survivor(t, backup)})
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
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
			cmd.Env = append(os.Environ(), "FILES_CRASH_AT="+fp, "FILES_CRASH_PATH="+path)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, "child should die: %s", out)
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

// TestCrashChild is the child of TestCrashAtEachStepOfWriteAtomic.
func TestCrashChild(t *testing.T) {
	fp, path := os.Getenv("FILES_CRASH_AT"), os.Getenv("FILES_CRASH_PATH")
	if fp == "" {
		t.Skip("only run as the child of TestCrashAtEachStepOfWriteAtomic")
	}
	data, err := os.ReadFile(path + ".new")
	require.NoError(t, err)
	_ = WriteAtomic(path, data, func(point, subject string) error {
		if point == fp && subject == path {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		return nil
	})
	t.Fatal("the failpoint was not reached")
}
