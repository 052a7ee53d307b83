package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/link"
)

// runB is node B: it registers port "echo", dials node A, and serves echo
// until the link ends.
func runB(ctx context.Context, out io.Writer, log *zap.Logger) error {
	secret, err := readSecret(os.Stdin)
	if err != nil {
		return err
	}
	node := kernel.NewNode(kernel.Config{Name: "b", Logger: log})
	defer node.Shutdown()
	t, err := node.NewTask("echo-server")
	if err != nil {
		return err
	}
	echo, err := t.AllocatePort()
	if err != nil {
		return err
	}
	if err := t.Register("echo", echo); err != nil {
		return err
	}
	if os.Getenv(envFailpoint) == "b-before-dial" {
		return errors.New("node B: failpoint b-before-dial")
	}
	l, err := link.Dial(ctx, os.Getenv(envAddr), link.Config{Name: "b", Secret: secret, Logger: log})
	if err != nil {
		return fmt.Errorf("node B: %w", err)
	}
	mux, err := attachPorts(node, l, log)
	if err != nil {
		return err
	}
	defer mux.Close()
	say(out, "node B: running as process %d; authenticated link to node %s is up; serving port \"echo\"", os.Getpid(), l.Peer())
	linkCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-mux.Done(); cancel() }()
	return serveEcho(linkCtx, out, t, echo)
}

// attachPorts opens the kernel's ports service over l and attaches it to
// node; the caller closes the mux it returns.
func attachPorts(node *kernel.Node, l link.Link, log *zap.Logger) (*link.Mux, error) {
	mux := link.NewMux(l, log)
	ports, err := mux.Channel(link.ServicePorts)
	if err == nil {
		err = node.AttachLink(ports)
	}
	if err != nil {
		_ = mux.Close()
		return nil, err
	}
	return mux, nil
}

func readSecret(r io.Reader) ([]byte, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("node B: reading the link secret from stdin: %w", err)
	}
	return hex.DecodeString(strings.TrimSpace(line))
}

// serveEcho answers messages on echo until ctx ends (the link is gone).
func serveEcho(ctx context.Context, out io.Writer, t *kernel.Task, echo kernel.Name) error {
	for {
		m, err := t.Receive(ctx, echo)
		if err != nil {
			if ctx.Err() != nil {
				return nil // node A went away: nothing left to serve
			}
			return err
		}
		if err := handleEcho(ctx, out, t, m); err != nil {
			return err
		}
	}
}

func handleEcho(ctx context.Context, out io.Writer, t *kernel.Task, m *kernel.Message) error {
	switch m.ID {
	case msgEcho:
		say(out, "node B: port \"echo\" received %q; replying", m.Body)
		return t.Send(ctx, &kernel.Message{Dest: m.Reply, DestDisp: kernel.MoveSendOnce, ID: msgEcho,
			Body: append([]byte("echo: "), m.Body...)})
	case msgTakeRight:
		if len(m.Rights) != 1 || m.Rights[0].Type != kernel.RightSend {
			return fmt.Errorf("node B: expected one send right, got %+v", m.Rights)
		}
		r := m.Rights[0]
		say(out, "node B: received a send right to node A's %s (it is name %d here); sending through it", m.Body, r.Name)
		return t.Send(ctx, &kernel.Message{Dest: r.Name, DestDisp: kernel.MoveSend, ID: msgHello,
			Body: []byte("hello from node B, through the send right node A moved to me")})
	}
	return fmt.Errorf("node B: unexpected message id %d", m.ID)
}
