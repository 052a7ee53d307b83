package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/devices/screen"
)

// detachKey (C-]) leaves the session running and returns to the shell.
const detachKey = 0x1d

// reattachWait is how long attach keeps looking for the session after a
// connection broke (a takeover takes a heartbeat timeout or two).
const reattachWait = 60 * time.Second

var errNoSession = errors.New("no such editing session on this node")

// errPairUnread is a state directory whose pair could not be read.
var errPairUnread = errors.New("cannot read the pair")

func newAttachCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use: "attach [SESSION]",
		Example: `  ftmctl attach                 # a new session on the first node's shell
  ftmctl attach n1/3            # back to a session left with Ctrl-]`,
		Short: "Attach this terminal to an editing session (follows the pair across a takeover)",
		Long: `attach connects this terminal, in raw mode, to the screen server of an editing
session started with ftmctl edit (the only one running when SESSION is not
given). If the node running it dies, attach reconnects by itself to the
survivor, which redraws the screen from its saved image and receives the keys
typed since the last checkpoint again. C-] detaches and leaves the editor
running; the terminal is restored on exit and on SIGINT, SIGTERM or SIGHUP.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var name string
			if len(args) == 1 {
				name = args[0]
			} else {
				var err error
				if name, err = onlySession(cmd.Context(), dir); err != nil {
					return err
				}
			}
			return attachTerminal(cmd.Context(), dir, name, cmdTerminal(cmd))
		},
	}
	cmd.Flags().StringVar(&dir, "dir", defaultDir(), "the pair's state directory")
	return cmd
}

// terminal is the user's end of an attach: the keyboard, the screen, and
// where attach's own messages go.
type terminal struct {
	in     *os.File
	out    io.Writer
	errOut io.Writer
}

// cmdTerminal is the terminal a command runs in.
func cmdTerminal(cmd *cobra.Command) terminal {
	return terminal{in: os.Stdin, out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr()}
}

// onlySession returns the one editing session running on the pair.
func onlySession(ctx context.Context, dir string) (string, error) {
	st, err := loadPair(dir)
	if err != nil {
		return "", err
	}
	var all []string
	for _, n := range st.Nodes {
		var names []string
		if alive(n.PID) && newControlClient(dir, n.Name).get(ctx, "/editors", &names) == nil {
			all = append(all, names...)
		}
	}
	switch len(all) {
	case 0:
		return "", errors.New("no editing session is running (start one with ftmctl edit FILE)")
	case 1:
		return all[0], nil
	}
	return "", fmt.Errorf("several editing sessions are running (%s): name one", strings.Join(all, ", "))
}

// attachTerminal runs the terminal side until the editor quits, the user
// detaches, or no node has the session for reattachWait.
func attachTerminal(ctx context.Context, dir, name string, term terminal) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if restore, err := screen.MakeRaw(int(term.in.Fd())); err == nil {
		defer func() { _ = restore() }()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	keys := make(chan []byte, 64)
	go readKeys(term.in, keys, cancel)
	a := &attachment{dir: dir, name: name, keys: keys, out: term.out}
	err := a.follow(ctx)
	switch {
	case errors.Is(err, screen.ErrBye):
		return nil
	case errors.Is(err, io.EOF): // the keyboard closed (input from a pipe)
		fmt.Fprintf(term.errOut, "\r\nno more input; %s goes on (ftmctl attach %s to come back)\r\n", name, name)
		return nil
	case errors.Is(context.Cause(ctx), errDetached):
		fmt.Fprintf(term.errOut, "\r\ndetached from %s (ftmctl attach %s to come back)\r\n", name, name)
		return nil
	case ctx.Err() != nil:
		fmt.Fprintf(term.errOut, "\r\nattach interrupted; %s goes on (ftmctl attach %s to come back)\r\n", name, name)
		return nil
	}
	return err
}

var errDetached = errors.New("detached")

// readKeys reads the keyboard; C-] detaches.
func readKeys(in io.Reader, keys chan<- []byte, cancel context.CancelCauseFunc) {
	buf := make([]byte, 256)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			k := append([]byte(nil), buf[:n]...)
			if i := strings.IndexByte(string(k), detachKey); i >= 0 {
				if i > 0 {
					keys <- k[:i]
				}
				cancel(errDetached)
				return
			}
			keys <- k
		}
		if err != nil {
			close(keys)
			return
		}
	}
}

// attachment is a terminal attached to the editing session name of the
// pair in dir: the screen client that draws it, the keys typed and the
// screen they are drawn on.
type attachment struct {
	dir, name string
	client    screen.Client
	keys      <-chan []byte
	out       io.Writer
}

// follow connects to whichever node runs the session, again after every
// broken connection. A session no live node has before the first
// connection is refused at once: attach follows a session across a
// takeover, it does not wait for one to appear.
func (a *attachment) follow(ctx context.Context) error {
	lastSeen, connected := time.Now(), false
	for {
		conn, err := findSession(ctx, a.dir, a.name)
		if !connected && (errors.Is(err, errNoSession) || errors.Is(err, errPairUnread)) {
			return fmt.Errorf("editing session %s: %w (ftmctl edit FILE starts one)", a.name, err)
		}
		if err == nil {
			connected = true
			err = a.client.Session(ctx, conn, a.keys, a.out)
			lastSeen = time.Now()
			if errors.Is(err, screen.ErrBye) || errors.Is(err, io.EOF) || ctx.Err() != nil {
				return err
			}
		}
		if time.Since(lastSeen) > reattachWait {
			return fmt.Errorf("editing session %s is on no node of the pair (%v)", a.name, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// findSession tries every live node of the pair.
func findSession(ctx context.Context, dir, name string) (io.ReadWriteCloser, error) {
	st, err := loadPair(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errPairUnread, err)
	}
	err = errNoSession
	for _, n := range st.Nodes {
		if !alive(n.PID) {
			continue
		}
		conn, derr := dialAttach(ctx, dir, n.Name, name)
		if derr == nil {
			return conn, nil
		}
		if errors.Is(err, errNoSession) { // a node that did not answer may have it
			err = derr
		}
	}
	return nil, err
}

// dialAttach asks node for the session and upgrades the connection.
func dialAttach(ctx context.Context, dir, node, name string) (io.ReadWriteCloser, error) {
	c := newControlClient(dir, node)
	if c.authErr != nil {
		return nil, c.authErr
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://node/attach?session="+url.QueryEscape(name), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(authHeader, c.token)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", screenUpgrade)
	hc := *c.http
	hc.Timeout = 0 // the upgraded connection lives as long as the session
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", node, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		resp.Body.Close()
		return nil, fmt.Errorf("node %s: %w", node, errNoSession)
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if resp.StatusCode != http.StatusSwitchingProtocols || !ok {
		resp.Body.Close()
		return nil, fmt.Errorf("node %s: attach refused: %s", node, resp.Status)
	}
	return rwc, nil
}

// editProgram is the name the editor runs under as a stable task, and
// screenUpgrade the protocol an attach request upgrades its connection to
// (devices/screen frames): both as the default node binary registers them
// (examples/ftmnode/editor.go).
const (
	editProgram   = "edit"
	screenUpgrade = "ftm-screen"
)
