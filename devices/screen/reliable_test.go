package screen_test

import (
	"context"
	"errors"
	"sync"
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
	rel, err := screen.NewReliable(screen.ReliableConfig{Name: "scr", Screens: screen.One(dev), Driver: r.Host("s").Driver, Logger: r.Log})
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
	_, err := write.Call(ctx, app, screen.Output{Data: []byte("hello")})
	require.NoError(t, err)
	require.NoError(t, app.Checkpoint(ctx))
	_, err = write.Call(ctx, app, screen.Output{Data: []byte("\r\nnot checkpointed")})
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
	_, err = write.Call(ctx, app2, screen.Output{Data: []byte(" again\x1b[4;1Hlast")})
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
	_, err := write.Call(ctx, app, screen.Output{Data: []byte("kept")})
	require.NoError(t, err)
	require.NoError(t, app.Checkpoint(ctx))
	_, err = write.Call(ctx, app, screen.Output{Data: []byte(" lost")})
	require.NoError(t, err)
	require.NoError(t, stop())
	dev, _ := serveScreen(t, r)
	require.Equal(t, "kept", dev.Snapshot().Text(0))
	_, err = write.Call(ctx, app, screen.Output{Data: []byte("!")})
	if err == nil {
		err = app.Checkpoint(ctx)
	}
	require.True(t, errors.Is(err, servers.ErrAborted), "the caller's RU aborted with the screen's: %v", err)
}

// devices is a node's screens by name, registered as programs start.
type devices struct {
	mu sync.Mutex
	m  map[string]*screen.Server
}

func (d *devices) get(name string) *screen.Server {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m[name]
}

func (d *devices) add(t *testing.T, name string) *screen.Server {
	dev, err := screen.NewServer(context.Background(), screen.ServerConfig{Width: 20, Height: 4})
	require.NoError(t, err)
	d.mu.Lock()
	d.m[name] = dev
	d.mu.Unlock()
	return dev
}

// One server keeps the screens of several programs: after a crash each
// device made anew (after the unit restored) shows its own committed
// image from its first write on, and a forgotten screen starts blank.
func TestReliableScreenServesSeveralScreens(t *testing.T) {
	r := devtest.New(t)
	serve := func() *devices {
		d := &devices{m: map[string]*screen.Server{}}
		rel, err := screen.NewReliable(screen.ReliableConfig{Name: "scr", Screens: d.get, Driver: r.Host("s").Driver, Logger: r.Log})
		require.NoError(t, err)
		r.Serve("s", "scr", rel.Run)
		return d
	}
	d := serve()
	d.add(t, "a")
	d.add(t, "b")
	app := r.Client("a", "app")
	ctx := context.Background()
	for _, name := range []string{"a", "b"} {
		_, err := write.Call(ctx, app, screen.Output{Screen: name, Data: []byte("I am " + name)})
		require.NoError(t, err)
	}
	_, err := write.Call(ctx, app, screen.Output{Screen: "c", Data: []byte("x")})
	require.ErrorIs(t, err, screen.ErrNoScreen)
	require.NoError(t, app.Checkpoint(ctx))

	r.Crash()
	d = serve()
	a, b := d.add(t, "a"), d.add(t, "b")
	app = r.Client("a", "app")
	_, err = write.Call(ctx, app, screen.Output{Screen: "a", Data: []byte("!")})
	require.NoError(t, err)
	require.Equal(t, "I am a!", a.Snapshot().Text(0))
	_, err = screen.Forget.At("scr").Call(ctx, app, "b")
	require.NoError(t, err)
	require.NoError(t, app.Checkpoint(ctx))
	require.Equal(t, "", b.Snapshot().Text(0), "b's device was never written since the restart")

	r.Crash()
	d = serve()
	a, b = d.add(t, "a"), d.add(t, "b")
	app = r.Client("a", "app")
	for _, name := range []string{"a", "b"} {
		_, err := write.Call(ctx, app, screen.Output{Screen: name, Data: []byte("+")})
		require.NoError(t, err)
	}
	require.Equal(t, "I am a!+", a.Snapshot().Text(0))
	require.Equal(t, "+", b.Snapshot().Text(0), "a forgotten screen starts blank")
}
