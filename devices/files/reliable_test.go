package files_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/devices/devtest"
	"github.com/ftm-in-go/ftm/devices/files"
)

func serveFiles(t *testing.T, r *devtest.Rig) {
	t.Helper()
	rel, err := files.NewReliable(files.ReliableConfig{Name: "fs", Driver: r.Host("f").Driver, Logger: r.Log})
	require.NoError(t, err)
	r.Serve("f", "fs", rel.Run)
}

var (
	openFile = files.OpenFile.At("fs")
	saveFile = files.SaveFile.At("fs")
)

// A save is output: once the caller is told it is saved, the content is on
// disk and in the bank's backup, even though the caller's recovery unit
// never checkpointed and is rolled back by the crash. The survivor's file
// server has the file open with the saved content.
// Reference: ftm-lessons.txt §4.1 (output is committed before it leaves),
// §6.4 (file consistency after a crash).
func TestAcknowledgedSaveSurvivesACrash(t *testing.T) {
	r := devtest.New(t)
	serveFiles(t, r)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(path, []byte("old\n"), 0o644))
	app := r.Client("a", "editor")
	got, err := openFile.Call(ctx, app, path)
	require.NoError(t, err)
	require.Equal(t, "old\n", string(got))
	gen, err := saveFile.Call(ctx, app, files.SaveReq{Path: path, Data: []byte("new\n")})
	require.NoError(t, err)
	require.Equal(t, uint64(1), gen)
	disk, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "new\n", string(disk), "on disk when acknowledged")

	require.NoError(t, os.WriteFile(path, []byte("lost by the disk\n"), 0o644)) // the survivor has its own disk
	r.Takeover()
	serveFiles(t, r)
	app2 := r.Client("a", "editor")
	got, err = openFile.Call(ctx, app2, path)
	require.NoError(t, err)
	require.Equal(t, "new\n", string(got), "the acknowledged save is in the survivor's bank")
	all, err := files.New(files.Config{Bank: r.Bank}).Files(ctx)
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.Equal(t, all[0].Gen, all[0].OnDisk)
}
