package screen_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/devices/devtest"
	"github.com/ftm-in-go/ftm/devices/screen"
	"github.com/ftm-in-go/ftm/servers"
)

// serveScreen runs a reliable screen named "scr" on host "s" of r.
func serveScreen(t *testing.T, r *devtest.Rig) (*screen.Server, func() error) {
	t.Helper()
	dev, err := screen.NewServer(r.Ctx, screen.ServerConfig{Width: 20, Height: 4})
	require.NoError(t, err)
	rel, err := screen.NewReliable(dev, screen.ReliableConfig{Name: "scr", Driver: r.Host("s").Driver, Logger: r.Log})
	require.NoError(t, err)
	return dev, r.Serve("s", "scr", rel.Run)
}

var write = screen.Write.At("scr")

// A write is part of its caller's recovery unit: the image a checkpoint
// of the caller committed comes back after every process crashed, and a
// write made after it does not.
// Reference: ftm-lessons.txt §6.1 (the screen is one of the editor's
// recovery units), §4.1 (an update makes client and server depend on each
// other).
func TestReliableScreenCommitsWithItsCaller(t *testing.T) {
	r := devtest.New(t)
	dev, _ := serveScreen(t, r)
	require.False(t, dev.Restored())
	app := r.Client("a", "app")
	ctx := context.Background()
	_, err := write.Call(ctx, app, []byte("hello"))
	require.NoError(t, err)
	require.NoError(t, app.Checkpoint(ctx))
	_, err = write.Call(ctx, app, []byte("\r\nnot checkpointed"))
	require.NoError(t, err)
	require.Equal(t, "not checkpointed", dev.Snapshot().Text(1))

	r.Crash()
	dev2, _ := serveScreen(t, r)
	require.True(t, dev2.Restored())
	im := dev2.Snapshot()
	require.Equal(t, "hello", im.Text(0))
	require.Equal(t, "", im.Text(1), "a write its caller never checkpointed is rolled back")
	require.Equal(t, 5, im.Cur.X, "the cursor is the checkpointed one")

	app2 := r.Client("a", "app")
	_, err = write.Call(ctx, app2, []byte(" again\x1b[4;1Hlast"))
	require.NoError(t, err)
	require.NoError(t, app2.Checkpoint(ctx))
	r.Takeover()
	dev3, _ := serveScreen(t, r)
	require.Equal(t, "hello again", dev3.Snapshot().Text(0))
	require.Equal(t, "last", dev3.Snapshot().Text(3), "the survivor's bank holds the rows the checkpoint changed")
}

// A crash of the screen's unit alone aborts its RU and the caller's, which
// depends on it: the caller is told (ErrAborted) and the image goes back
// to the last checkpoint.
// Reference: ftm-lessons.txt §4.1 (rollback of dependent recovery units).
func TestReliableScreenCrashAbortsItsCaller(t *testing.T) {
	r := devtest.New(t)
	_, stop := serveScreen(t, r)
	app := r.Client("a", "app")
	ctx := context.Background()
	_, err := write.Call(ctx, app, []byte("kept"))
	require.NoError(t, err)
	require.NoError(t, app.Checkpoint(ctx))
	_, err = write.Call(ctx, app, []byte(" lost"))
	require.NoError(t, err)
	require.NoError(t, stop())
	dev, _ := serveScreen(t, r)
	require.Equal(t, "kept", dev.Snapshot().Text(0))
	_, err = write.Call(ctx, app, []byte("!"))
	if err == nil {
		err = app.Checkpoint(ctx)
	}
	require.True(t, errors.Is(err, servers.ErrAborted), "the caller's RU aborted with the screen's: %v", err)
}
