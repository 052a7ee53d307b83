package kernel

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/kernel/clock"
	"github.com/ftm-in-go/ftm/kernel/link"
)

// linkedNodes returns two nodes, a and b, joined by an in-memory link
// (on clk, or the real clock when nil), and a's end of the link, for
// tests that cut it.
func linkedNodes(t *testing.T, clk clock.Clock) (a, b *Node, la *link.MemLink) {
	t.Helper()
	if clk == nil {
		clk = clock.Real{}
	}
	a = NewNode(Config{Name: "a", Clock: clk, Logger: zaptest.NewLogger(t)})
	b = NewNode(Config{Name: "b", Clock: clk, Logger: zaptest.NewLogger(t)})
	t.Cleanup(a.Shutdown)
	t.Cleanup(b.Shutdown)
	la, lb := link.NewMemPair("a", "b", link.MemConfig{Clock: clk})
	require.NoError(t, a.AttachLink(la))
	require.NoError(t, b.AttachLink(lb))
	return a, b, la
}

// registerEcho starts a server task on node a and registers its port svc
// there as "echo".
func registerEcho(t *testing.T, a *Node) (server *Task, svc Name) {
	t.Helper()
	server = newTask(t, a, "server")
	svc, err := server.AllocatePort()
	require.NoError(t, err)
	require.NoError(t, server.Register("echo", svc))
	return server, svc
}

// lookupEcho starts a client task on node b and looks up the "echo"
// service registered on node home; to is its send right to the service.
func lookupEcho(t *testing.T, b *Node, home string) (client *Task, to Name) {
	t.Helper()
	client = newTask(t, b, "client")
	to, err := client.Lookup(ctxT(t), home, "echo")
	require.NoError(t, err)
	return client, to
}

func TestRemoteRPCAcrossLink(t *testing.T) {
	a, b, _ := linkedNodes(t, nil)
	server, svc := registerEcho(t, a)
	client, to := lookupEcho(t, b, "a")
	status := status(t, client, to)
	require.True(t, status.Remote)

	reply, _ := client.AllocatePort()
	require.NoError(t, client.Send(ctxT(t), &Message{Dest: to, Reply: reply, ID: 1, RU: 9, Body: []byte("ping"), OOL: [][]byte{[]byte("region")}}))
	req := recv(t, server, svc)
	require.Equal(t, "ping", string(req.Body))
	require.Equal(t, uint64(9), req.RU)
	require.Equal(t, "region", string(req.OOL[0]))
	require.Equal(t, RightSendOnce, req.ReplyType)
	require.NoError(t, server.Send(ctxT(t), &Message{Dest: req.Reply, Body: []byte("pong")}))
	require.Equal(t, "pong", string(recv(t, client, reply).Body))
}

func TestSendRightMovesAcrossNodesAndBack(t *testing.T) {
	a, b, _ := linkedNodes(t, nil)
	server, svc := registerEcho(t, a)
	client, to := lookupEcho(t, b, "a")
	// The client on b hands the server a send right to a port of its own.
	inbox, _ := client.AllocatePort()
	require.NoError(t, client.Send(ctxT(t), &Message{Dest: to, Rights: []PortRight{{Name: inbox, Disp: MakeSend}}}))
	m := recv(t, server, svc)
	require.Equal(t, RightSend, m.Rights[0].Type)
	toInbox := m.Rights[0].Name
	require.True(t, status(t, server, toInbox).Remote)
	// The server uses it, and also sends the client back a right to the
	// client's own port: it arrives as the local port, not a proxy chain.
	require.NoError(t, server.Send(ctxT(t), &Message{Dest: toInbox, ID: 5, Rights: []PortRight{{Name: toInbox, Disp: CopySend}}}))
	got := recv(t, client, inbox)
	require.Equal(t, uint32(5), got.ID)
	require.Equal(t, inbox, got.Rights[0].Name, "a right to one's own port comes home under its own name")
	require.False(t, status(t, client, got.Rights[0].Name).Remote)
}

func TestReceiveRightCannotLeaveItsNode(t *testing.T) {
	a, b, _ := linkedNodes(t, nil)
	registerEcho(t, a)
	client, to := lookupEcho(t, b, "a")
	mine, _ := client.AllocatePort()
	err := client.Send(ctxT(t), &Message{Dest: to, Rights: []PortRight{{Name: mine, Disp: MoveReceive}}})
	require.ErrorIs(t, err, ErrInvalidRight)
	require.Equal(t, RightReceive, mustType(t, client, mine))
}

func TestLookupErrors(t *testing.T) {
	a, b, _ := linkedNodes(t, nil)
	client := newTask(t, b, "client")
	_, err := client.Lookup(ctxT(t), "a", "nothing")
	require.ErrorIs(t, err, ErrNotRegistered)
	_, err = client.Lookup(ctxT(t), "zeta", "echo")
	require.ErrorIs(t, err, ErrNoLink)
	local := newTask(t, a, "local")
	_, err = local.Lookup(ctxT(t), "a", "nothing")
	require.ErrorIs(t, err, ErrNotRegistered)
	p, _ := local.AllocatePort()
	require.NoError(t, local.Register("here", p))
	n, err := local.Lookup(ctxT(t), "a", "here")
	require.NoError(t, err)
	require.Equal(t, p, n)
	require.ErrorIs(t, local.Register("x", 999), ErrInvalidName)
}

// Reference: README.md, "Across nodes" — a lost link turns remote ports
// into dead names after a configurable timeout, firing dead-name
// notifications.
func TestLostLinkTurnsProxiesIntoDeadNames(t *testing.T) {
	clk := clock.NewManual(time.Unix(0, 0))
	a, b, la := linkedNodes(t, clk)
	registerEcho(t, a)
	client, to := lookupEcho(t, b, "a")
	notif, _ := client.AllocatePort()
	require.NoError(t, client.RequestNotification(to, NotifyDeadName, notif))

	la.Cut()
	require.Eventually(t, func() bool { // b's own death timer: a's alone may be pending first
		b.mu.Lock()
		defer b.mu.Unlock()
		ps := b.net.peers["a"]
		return ps != nil && ps.death != nil
	}, 5*time.Second, time.Millisecond, "the link loss was seen by the client's node")
	require.Equal(t, RightSend, mustType(t, client, to), "not dead before the timeout")
	clk.Advance(DefaultLinkTimeout)
	m := recv(t, client, notif)
	require.Equal(t, uint32(NotifyDeadName), m.ID)
	require.Equal(t, to, NotifyName(m))
	require.Equal(t, RightDeadName, mustType(t, client, to))
	require.ErrorIs(t, client.TrySend(&Message{Dest: to}), ErrPortDead)
}

func TestRemotePortDeathReachesProxies(t *testing.T) {
	a, b, _ := linkedNodes(t, nil)
	server, svc := registerEcho(t, a)
	client, to := lookupEcho(t, b, "a")
	require.NoError(t, server.Destroy(svc))
	// The next message to the dead port is answered by a kindDead frame.
	require.NoError(t, client.Send(ctxT(t), &Message{Dest: to}))
	require.Eventually(t, func() bool {
		rt, err := client.Type(to)
		return err == nil && rt == RightDeadName
	}, 5*time.Second, time.Millisecond)
}

func TestNoSendersAcrossNodes(t *testing.T) {
	a, b, _ := linkedNodes(t, nil)
	server, client := newTask(t, a, "server"), newTask(t, b, "client")
	svc, _ := server.AllocatePort()
	notif, _ := server.AllocatePort()
	require.NoError(t, server.Register("svc", svc))
	to, err := client.Lookup(ctxT(t), "a", "svc")
	require.NoError(t, err)
	require.NoError(t, server.Register("svc", notif)) // the registry lets go of svc
	require.NoError(t, server.RequestNotification(svc, NotifyNoSenders, notif))
	require.NoError(t, client.Deallocate(to))
	m, err := server.Receive(ctxT(t), notif)
	require.NoError(t, err)
	require.Equal(t, uint32(NotifyNoSenders), m.ID, "the remote holder's release reached the port")
}

func TestRemoteMessagesKeepOrder(t *testing.T) {
	a, b, _ := linkedNodes(t, nil)
	server, svc := registerEcho(t, a)
	client, to := lookupEcho(t, b, "a")
	require.NoError(t, server.SetQueueLimit(svc, 4)) // forces the link to wait for the receiver
	const n = 200
	go func() {
		for i := 0; i < n; i++ {
			if client.Send(context.Background(), &Message{Dest: to, ID: uint32(i)}) != nil {
				return
			}
		}
	}()
	for i := 0; i < n; i++ {
		require.Equal(t, uint32(i), recv(t, server, svc).ID)
	}
}
