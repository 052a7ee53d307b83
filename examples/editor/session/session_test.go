package session

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/devices/files"
	"github.com/ftm-in-go/ftm/devices/screen"
	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
	"github.com/ftm-in-go/ftm/task"
)

// terminal is what the user sees: a screen image fed by the client.
type terminal struct {
	mu  sync.Mutex
	img *screen.Image
}

func (tt *terminal) Write(p []byte) (int, error) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return tt.img.Write(p)
}

func (tt *terminal) text() string {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	var rows []string
	for y := 0; y < tt.img.H; y++ {
		rows = append(rows, tt.img.Text(y))
	}
	return strings.Join(rows, "\n")
}

// node is one incarnation of the editor: a bank, its task, its servers.
type node struct {
	bank   *stm.Bank
	mirror *stm.LocalMirror
	backup *stm.Backup
	scr    *screen.Server
	cancel context.CancelFunc
	done   chan error
}

func startNode(t *testing.T, bank *stm.Bank, file string) *node {
	t.Helper()
	return startNodeHook(t, bank, file, nil)
}

// startNodeHook starts a node whose editor calls onCkpt after each
// checkpoint committed, before the clients are told (Ack).
func startNodeHook(t *testing.T, bank *stm.Bank, file string, onCkpt func(context.Context)) *node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{bank: bank, backup: stm.NewBackup(stm.BackupConfig{}), cancel: cancel, done: make(chan error, 1)}
	n.mirror = stm.NewLocalMirror(n.backup)
	require.NoError(t, bank.Attach(ctx, n.mirror))
	fs := files.New(files.Config{Bank: bank})
	require.NoError(t, fs.Recover(ctx))
	var err error
	n.scr, err = screen.NewServer(ctx, screen.ServerConfig{Width: 40, Height: 8, Store: screen.NewBankStore(bank, "ed")})
	require.NoError(t, err)
	go func() {
		_, err := task.Run(ctx, task.Config{Name: "editor", Store: rvm.NewSTMStore(bank)}, func(ctx context.Context, tk *task.Task) error {
			cfg := Config{File: file, Width: 40, Height: 8, Screen: n.scr, Files: Files(ctx, fs)}
			if onCkpt != nil {
				cfg.OnCheckpoint = func(time.Duration) { onCkpt(ctx) }
			}
			return Run(ctx, tk, cfg)
		})
		n.done <- err
	}()
	return n
}

// user is the person at the terminal: the keys typed, the client that
// sends them and resends what no checkpoint has acknowledged, and the
// terminal showing what comes back. The user outlives every node.
type user struct {
	client screen.Client
	keys   chan []byte
	term   *terminal
}

// newUser returns a user with a 40×8 terminal who can type up to
// buffered keystrokes ahead of the client.
func newUser(buffered int) *user {
	return &user{keys: make(chan []byte, buffered), term: &terminal{img: screen.New(40, 8)}}
}

// attach connects the user's client to n's screen server in the
// background; the session's end is sent on the channel returned.
func (u *user) attach(ctx context.Context, n *node) chan error {
	a, b := net.Pipe()
	go func() { _ = n.scr.Serve(ctx, a) }()
	errc := make(chan error, 1)
	go func() { errc <- u.client.Session(ctx, b, u.keys, u.term) }()
	return errc
}

func waitFor(t *testing.T, tt *terminal, want string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(tt.text(), want) }, 10*time.Second, 5*time.Millisecond,
		"the terminal never showed %q; it shows:\n%s", want, tt.text())
}

// TestTakeoverKeepsEveryEchoedKeystroke: type, crash the primary (its
// mirror cut, its task stopped), take the backup bank over, restart the
// editor there and reconnect: the screen shows every keystroke echoed
// before the crash, editing goes on, and a save reaches the disk.
// Reference: ftm-lessons.txt §6.4 (the screen is consistent with the
// editor's state after crash recovery).
func TestTakeoverKeepsEveryEchoedKeystroke(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(path, []byte("first line\n"), 0o644))
	n1 := startNode(t, stm.NewBank(stm.Config{}), path)
	u := newUser(100)
	s1 := u.attach(ctx, n1)
	waitFor(t, u.term, "first line")
	for _, k := range []string{"\x1b>", "h", "e", "l", "l", "o", " ", "w", "o", "r", "l", "d"} {
		u.keys <- []byte(k)
	}
	waitFor(t, u.term, "hello world")
	// Crash: nothing more reaches the backup; the task and its servers die.
	n1.mirror.Cut()
	u.keys <- []byte("!") // echoed, perhaps never checkpointed
	waitFor(t, u.term, "hello world!")
	n1.cancel()
	<-n1.done
	n1.scr.Drop() // the node is gone: the connection breaks, no goodbye
	require.Error(t, <-s1)
	// The survivor takes the bank over and restarts the editor.
	bank2 := stmtest.Takeover(t, n1.backup)
	n2 := startNode(t, bank2, path)
	u.term.mu.Lock()
	u.term.img = screen.New(40, 8) // a fresh terminal: everything must be redrawn
	u.term.mu.Unlock()
	s2 := u.attach(ctx, n2)
	waitFor(t, u.term, "hello world!")
	u.keys <- []byte(" again\x18\x13")
	waitFor(t, u.term, "Wrote")
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "first line\nhello world! again", string(got))
	require.NotContains(t, u.term.text(), "hello world!!", "the resent keystroke is applied once")
	u.keys <- []byte("\x18\x03")
	require.NoError(t, <-n2.done)
	n2.scr.Close()
	require.ErrorIs(t, <-s2, screen.ErrBye)
	require.Equal(t, 0, u.client.Pending())
}

// TestRandomTakeoversLoseNoKeystroke types random bursts and crashes the
// node running the editor several times in a row, either at a random
// moment (its mirror cut and its task stopped, whether or not the last
// keys were checkpointed or even echoed) or right after a checkpoint
// committed but before the client heard of it (so the client resends
// input the survivor has already applied). After each takeover the client
// reconnects and resends. At the end the saved file holds every key
// typed, each exactly once, in order.
func TestRandomTakeoversLoseNoKeystroke(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { randomTakeovers(t, seed) })
	}
}

// crasher crashes a node inside its checkpoint hook when armed.
type crasher struct {
	mu      sync.Mutex
	armed   bool
	n       *node
	crashed chan struct{}
}

func (c *crasher) hook(ctx context.Context) {
	c.mu.Lock()
	armed, n := c.armed, c.n
	c.armed = false
	c.mu.Unlock()
	if !armed {
		return
	}
	n.mirror.Cut() // committed on the backup; the ack never leaves
	close(c.crashed)
	<-ctx.Done()
}

func randomTakeovers(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 42))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "typed.txt")
	cr := &crasher{}
	n := startNodeHook(t, stm.NewBank(stm.Config{}), path, cr.hook)
	u := newUser(1000)
	sess := u.attach(ctx, n)
	var typed strings.Builder
	resent := 0
	for crash := 0; crash < 6; crash++ {
		inHook := rng.IntN(2) == 0
		cr.mu.Lock()
		cr.n, cr.armed, cr.crashed = n, inHook, make(chan struct{})
		cr.mu.Unlock()
		for burst := rng.IntN(6); burst >= 0; burst-- {
			k := randomKeys(rng)
			typed.Write(k)
			u.keys <- k
			time.Sleep(time.Duration(rng.IntN(400)) * time.Microsecond)
		}
		if inHook {
			<-cr.crashed
		} else {
			n.mirror.Cut()
		}
		n.cancel()
		<-n.done
		n.scr.Drop()
		<-sess
		resent += u.client.Pending()
		bank := stmtest.Takeover(t, n.backup)
		n = startNodeHook(t, bank, path, cr.hook)
		sess = u.attach(ctx, n)
	}
	require.Positive(t, resent, "some input was resent after a takeover")
	u.keys <- []byte("\x18\x13")
	want := strings.ReplaceAll(typed.String(), "\r", "\n")
	require.Eventually(t, func() bool {
		got, _ := os.ReadFile(path)
		return string(got) == want
	}, 10*time.Second, 5*time.Millisecond, "the file never held exactly what was typed (%d characters)", len(want))
	u.keys <- []byte("\x18\x03")
	require.NoError(t, <-n.done)
}

func randomKeys(rng *rand.Rand) []byte {
	var k []byte
	for i := rng.IntN(4); i >= 0; i-- {
		k = append(k, byte('a'+rng.IntN(26)))
	}
	if rng.IntN(5) == 0 {
		k = append(k, '\r')
	}
	return k
}
