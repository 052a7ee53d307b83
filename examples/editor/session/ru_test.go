package session

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/devices/devtest"
	"github.com/ftm-in-go/ftm/devices/files"
	"github.com/ftm-in-go/ftm/devices/screen"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/task"
)

// ruNode is the editor as a recovery unit with its reliable screen and
// file servers, all on one driver of a devtest rig.
type ruNode struct {
	r       *devtest.Rig
	dev     *screen.Server
	stopScr func() error
	done    chan ruEnd
	cancel  context.CancelFunc // stops the editor's task
}

// ruEnd is how the editor's task ended.
type ruEnd struct {
	st  task.Stats
	err error
}

// driverUnits is the task.Units of one driver for every bank.
type driverUnits struct{ d *servers.Driver }

func (u driverUnits) Driver(string) *servers.Driver { return u.d }

// ruTask is the editor's task configuration: a recovery unit on r's
// driver "n".
func ruTask(r *devtest.Rig) task.Config {
	return task.Config{Name: "editor", Logger: r.Log,
		Unit: &task.UnitConfig{Name: "editor", Bank: "b", STM: r.Bank, Units: driverUnits{r.Host("n").Driver}}}
}

func (n *ruNode) serveScreen(t *testing.T) {
	t.Helper()
	rel, err := screen.NewReliable(screen.ReliableConfig{Name: "scr", Screens: screen.One(n.dev), Driver: n.r.Host("n").Driver, Logger: n.r.Log})
	require.NoError(t, err)
	n.stopScr = n.r.Serve("n", "scr", rel.Run)
}

func startRU(t *testing.T, r *devtest.Rig, file string, hook func()) *ruNode {
	t.Helper()
	n := &ruNode{r: r}
	var err error
	n.dev, err = screen.NewServer(r.Ctx, screen.ServerConfig{Width: 40, Height: 8})
	require.NoError(t, err)
	n.serveScreen(t)
	n.runEditor(t, file, hook)
	return n
}

// runEditor serves the file server and starts the editor's task.
func (n *ruNode) runEditor(t *testing.T, file string, hook func()) {
	r := n.r
	fs, err := files.NewReliable(files.ReliableConfig{Name: "fs", Driver: r.Host("n").Driver, Logger: r.Log})
	require.NoError(t, err)
	r.Serve("n", "fs", fs.Run)
	cfg := RUConfig{Config: Config{File: file, Width: 40, Height: 8, Screen: n.dev, Logger: r.Log, beforeCheckpoint: hook},
		ScreenServer: "scr", FileServer: "fs"}
	ctx, cancel := context.WithCancel(r.Ctx)
	n.cancel, n.done = cancel, make(chan ruEnd, 1)
	go func() {
		st, err := task.Run(ctx, ruTask(r), func(ctx context.Context, t *task.Task) error { return RunRU(ctx, t, cfg) })
		n.done <- ruEnd{st, err}
	}()
}

// attachUser connects a user's client to the node's screen.
func attachUser(ctx context.Context, n *ruNode, u *user) chan error {
	a, b := net.Pipe()
	go func() { _ = n.dev.Serve(ctx, a) }()
	errc := make(chan error, 1)
	go func() { errc <- u.client.Session(ctx, b, u.keys, u.term) }()
	return errc
}

// killer crashes the screen's recovery unit (its server stops) inside the
// editor's next checkpoint hook when armed, and waits there until the
// test has started a new one (which restarts the unit from the bank, as
// after a crash of its process): the editor's RU then depends on the
// screen's, which it drew on since its last checkpoint.
type killer struct {
	mu      sync.Mutex
	armed   bool
	n       *ruNode
	stopErr error
	killed  chan struct{}
	resume  chan struct{}
}

func (k *killer) hook() {
	k.mu.Lock()
	armed := k.armed
	k.armed = false
	k.mu.Unlock()
	if !armed {
		return
	}
	k.stopErr = k.n.stopScr()
	close(k.killed)
	<-k.resume
}

// recv waits for c, failing the test after ten seconds.
func recv[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// TestScreenUnitCrashRollsTheEditorBack kills the screen server's
// recovery unit in the middle of an edit (keys drawn on the screen, not
// yet checkpointed): the editor's RU, which depends on the screen's, aborts;
// the system rolls the editor back to its last checkpoint and enters it
// again, the input it had read since is queued again, and the editor
// goes on with every keystroke: the screen shows them, each once, and the
// saved file holds exactly what was typed.
// Reference: ftm-lessons.txt §4.1 (an RU that depends on an aborted one
// aborts; the system restores and restarts the process), §6.1 (the
// editor's five recovery units).
func TestScreenUnitCrashRollsTheEditorBack(t *testing.T) {
	r := devtest.New(t)
	path := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(path, []byte("first line\n"), 0o644))
	k := &killer{killed: make(chan struct{}), resume: make(chan struct{})}
	n := startRU(t, r, path, k.hook)
	k.n = n
	u := newUser(100)
	sess := attachUser(r.Ctx, n, u)
	waitFor(t, u.term, "first line")
	for _, key := range []string{"\x1b>", "h", "e", "l", "l", "o"} {
		u.keys <- []byte(key)
	}
	waitFor(t, u.term, "hello")
	require.Eventually(t, func() bool { return u.client.Pending() == 0 }, 10*time.Second, time.Millisecond)

	k.mu.Lock()
	k.armed = true
	k.mu.Unlock()
	u.keys <- []byte(" wor") // drawn, then the screen's unit dies before the checkpoint
	recv(t, k.killed, "the screen's unit killed")
	require.NoError(t, k.stopErr)
	n.serveScreen(t)
	close(k.resume)
	u.keys <- []byte("ld")
	waitFor(t, u.term, "hello world")
	require.Eventually(t, func() bool { return u.client.Pending() == 0 }, 10*time.Second, time.Millisecond)
	require.Contains(t, n.dev.Snapshot().Text(1), "hello world", "the screen server's image shows every keystroke")

	u.keys <- []byte("\x18\x13")
	waitFor(t, u.term, "Wrote")
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "first line\nhello world", string(got), "each keystroke applied once")
	require.NotContains(t, u.term.text(), "hello wor wor")
	u.keys <- []byte("\x18\x03")
	end := recv(t, n.done, "the editor's end")
	require.NoError(t, end.err)
	require.Equal(t, 1, end.st.Rollbacks, "the editor's RU aborted with the screen's and was rolled back once")
	n.dev.Close()
	require.ErrorIs(t, recv(t, sess, "the session's end"), screen.ErrBye)
}

// A checkpoint of the editor is one atomic action of its RU, its three
// segments and the screen: after the machine died and the backup bank
// took over, the screen server restarts with the image of the editor's
// last checkpoint (before the editor draws anything), the editor with
// the text of that same checkpoint, and editing goes on.
// Reference: ftm-lessons.txt §6.1 (five recovery units), §6.4.
func TestEditorAndScreenCheckpointTogether(t *testing.T) {
	r := devtest.New(t)
	path := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(path, []byte("first line\n"), 0o644))
	n := startRU(t, r, path, nil)
	u := newUser(100)
	sess := attachUser(r.Ctx, n, u)
	waitFor(t, u.term, "first line")
	u.keys <- []byte("\x1b>hello")
	waitFor(t, u.term, "hello")
	require.Eventually(t, func() bool { return u.client.Pending() == 0 }, 10*time.Second, time.Millisecond)
	n.cancel()
	end := recv(t, n.done, "the editor's end")
	require.Error(t, end.err)
	n.dev.Drop()
	recv(t, sess, "the session's end")

	r.Takeover()
	n2 := &ruNode{r: r}
	var err error
	n2.dev, err = screen.NewServer(r.Ctx, screen.ServerConfig{Width: 40, Height: 8})
	require.NoError(t, err)
	n2.serveScreen(t)
	require.True(t, n2.dev.Restored())
	require.Equal(t, "hello", n2.dev.Snapshot().Text(1), "the screen committed with the editor's checkpoint")
	n2.runEditor(t, path, nil)
	u.term.mu.Lock()
	u.term.img = screen.New(40, 8) // a fresh terminal: everything must be redrawn
	u.term.mu.Unlock()
	sess = attachUser(r.Ctx, n2, u)
	u.keys <- []byte(" again\x18\x13")
	waitFor(t, u.term, "Wrote")
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "first line\nhello again", string(got))
	u.keys <- []byte("\x18\x03")
	end = recv(t, n2.done, "the editor's end")
	require.NoError(t, end.err)
	require.True(t, end.st.Restored)
	n2.dev.Close()
	require.ErrorIs(t, recv(t, sess, "the session's end"), screen.ErrBye)
}

// After the editor quit, the journal segment of a committed checkpoint
// holds the input it applied.
func TestJournalKeepsTheInputApplied(t *testing.T) {
	seg := make([]byte, 8+4)
	journal(seg).append([]screen.Input{{Seq: 1, Data: []byte("abc")}, {Seq: 2, Data: []byte("defg")}})
	require.Equal(t, "defg", string(Journal(seg)), "the ring keeps the last bytes")
	seg = make([]byte, 8+16)
	journal(seg).append([]screen.Input{{Seq: 1, Data: []byte("abc")}})
	require.Equal(t, "abc", strings.TrimSpace(string(Journal(seg))))
}
