package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/link"
)

// linkTimeout is how long after losing the link node A's kernel turns node
// B's ports into dead names.
const linkTimeout = 300 * time.Millisecond

// runA is node A: it starts node B, talks to it, moves a right to it, kills
// it, and waits for the dead-name notification.
func runA(ctx context.Context, out io.Writer, log *zap.Logger) error {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	lis, err := link.Listen("127.0.0.1:0", link.Config{Name: "a", Secret: secret, Logger: log})
	if err != nil {
		return err
	}
	defer lis.Close()
	say(out, "node A: running as process %d; listening on %s; starting node B as a separate process", os.Getpid(), lis.Addr())
	b, err := startB(lis.Addr(), secret)
	if err != nil {
		return err
	}
	defer b.kill() // on every path; a no-op once B is reaped
	actx, stop := b.watch(ctx)
	l, err := lis.Accept(actx)
	stop()
	if err != nil {
		return fmt.Errorf("node A: waiting for node B: %w", context.Cause(actx))
	}
	say(out, "node A: authenticated link to node %s (process %d) is up", l.Peer(), b.cmd.Process.Pid)
	node := kernel.NewNode(kernel.Config{Name: "a", Logger: log, LinkTimeout: linkTimeout})
	defer node.Shutdown()
	mux, err := attachPorts(node, l, log)
	if err != nil {
		return err
	}
	defer mux.Close()
	return scenario(ctx, out, node, b)
}

// scenario is the story: messages, a moved right, a SIGKILL, a dead name.
func scenario(ctx context.Context, out io.Writer, node *kernel.Node, b *child) error {
	t, err := node.NewTask("client")
	if err != nil {
		return err
	}
	echo, err := t.Lookup(ctx, "b", "echo")
	if err != nil {
		return fmt.Errorf("node A: lookup of \"echo\" on node b: %w", err)
	}
	say(out, "node A: looked up port \"echo\" on node b; holding a send right to it as name %d", echo)
	c := client{out: out, t: t, echo: echo}
	if err := c.exchange(ctx); err != nil {
		return err
	}
	if err := c.moveRight(ctx); err != nil {
		return err
	}
	return c.killAndWatch(ctx, b)
}

// client is node A's side of the story: the task that talks to node B, its
// send right to node B's port "echo", and where it tells what happens.
type client struct {
	out  io.Writer
	t    *kernel.Task
	echo kernel.Name
}

// exchange sends two requests to echo, each with a send-once reply right,
// and prints the replies.
func (c client) exchange(ctx context.Context) error {
	reply, err := c.t.AllocatePort()
	if err != nil {
		return err
	}
	for _, text := range []string{"hello, node B", "what time is it over there?"} {
		err := c.t.Send(ctx, &kernel.Message{Dest: c.echo, Reply: reply, ReplyDisp: kernel.MakeSendOnce, ID: msgEcho, Body: []byte(text)})
		if err != nil {
			return fmt.Errorf("node A: send to echo: %w", err)
		}
		m, err := c.t.Receive(ctx, reply)
		if err != nil {
			return fmt.Errorf("node A: waiting for echo's reply: %w", err)
		}
		say(c.out, "node A: sent %q to node b's \"echo\", reply: %q", text, m.Body)
	}
	return c.t.Destroy(reply)
}

// moveRight moves a send right to A's port "inbox" to node B, then receives
// what B sends through it.
func (c client) moveRight(ctx context.Context) error {
	inbox, err := c.t.AllocatePort()
	if err != nil {
		return err
	}
	if err := c.t.MakeSend(inbox); err != nil {
		return err
	}
	err = c.t.Send(ctx, &kernel.Message{Dest: c.echo, ID: msgTakeRight, Body: []byte(`port "inbox"`),
		Rights: []kernel.PortRight{{Name: inbox, Disp: kernel.MoveSend}}})
	if err != nil {
		return fmt.Errorf("node A: moving the right: %w", err)
	}
	st, err := c.t.Status(inbox)
	if err != nil {
		return err
	}
	say(c.out, "node A: moved its send right to port \"inbox\" (name %d) to node b; node A now holds only the receive right (send rights in existence: %d, held remotely)", inbox, st.SendRights)
	m, err := c.t.Receive(ctx, inbox)
	if err != nil {
		return fmt.Errorf("node A: waiting on inbox: %w", err)
	}
	say(c.out, "node A: port \"inbox\" received from node b: %q", m.Body)
	return nil
}

// killAndWatch requests a dead-name notification on echo, SIGKILLs node B,
// and waits for the notification.
func (c client) killAndWatch(ctx context.Context, b *child) error {
	notify, err := c.t.AllocatePort()
	if err != nil {
		return err
	}
	if err := c.t.RequestNotification(c.echo, kernel.NotifyDeadName, notify); err != nil {
		return err
	}
	say(c.out, "node A: requested a dead-name notification for name %d (node b's \"echo\")", c.echo)
	say(c.out, "node A: killing node B (process %d) with SIGKILL", b.cmd.Process.Pid)
	state, err := b.killWait()
	if err != nil {
		return err
	}
	say(c.out, "node A: node B is gone (%s); its ports turn into dead names after the link timeout (%v)", state, linkTimeout)
	m, err := c.t.Receive(ctx, notify)
	if err != nil {
		return fmt.Errorf("node A: waiting for the dead-name notification: %w", err)
	}
	if kernel.NotifyKind(m.ID) != kernel.NotifyDeadName || kernel.NotifyName(m) != c.echo {
		return fmt.Errorf("node A: expected a dead-name notification for %d, got id %d about %d", c.echo, m.ID, kernel.NotifyName(m))
	}
	if typ, err := c.t.Type(c.echo); err != nil || typ != kernel.RightDeadName {
		return fmt.Errorf("node A: name %d after the notification: %v, %v", c.echo, typ, err)
	}
	say(c.out, "node A: dead-name notification: name %d (node b's \"echo\") is now a dead name", c.echo)
	say(c.out, "node A: demo complete, exiting 0")
	return nil
}

// child is node B's process.
type child struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has been reaped
	err    error         // what Wait said; read after exited is closed
}

// startB re-executes this program as node B, with the secret on its stdin
// and its stdout shared with ours.
func startB(addr string, secret []byte) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), envRole+"=b", envAddr+"="+addr)
	cmd.Stdin = strings.NewReader(hex.EncodeToString(secret) + "\n")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("node A: starting node B: %w", err)
	}
	c := &child{cmd: cmd, exited: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.exited) }()
	return c, nil
}

// watch returns a context that ends when ctx does or when node B exits, so
// node A does not wait for a child that failed to start.
func (c *child) watch(ctx context.Context) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-c.exited:
			cancel(fmt.Errorf("node B exited early: %v", c.err))
		case <-wctx.Done():
		}
	}()
	return wctx, func() { cancel(nil) }
}

// killWait sends SIGKILL and waits until the process is reaped.
func (c *child) killWait() (string, error) {
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		select {
		case <-c.exited: // already gone
		default:
			return "", fmt.Errorf("node A: SIGKILL node B: %w", err)
		}
	}
	<-c.exited
	var ee *exec.ExitError
	if !errors.As(c.err, &ee) {
		return "", fmt.Errorf("node A: node B did not die of the signal: %v", c.err)
	}
	return ee.ProcessState.String(), nil
}

func (c *child) kill() { _, _ = c.killWait() }
