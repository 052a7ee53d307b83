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

// rawPeerClock is rawPeer on a manual clock, so the test decides when a
// lost link's exports are released.
func rawPeerClock(t *testing.T, clk clock.Clock) (*Node, *link.MemLink) {
	t.Helper()
	a := NewNode(Config{Name: "a", Clock: clk, Logger: zaptest.NewLogger(t)})
	t.Cleanup(a.Shutdown)
	la, lb := link.NewMemPair("a", "b", link.MemConfig{Clock: clk})
	require.NoError(t, a.AttachLink(la))
	return a, lb
}

// rawSync waits until a has handled every frame the peer sent before: the
// frames of one link are handled in order, and a lookup is answered.
func rawSync(t *testing.T, peer link.Link, req uint64) {
	t.Helper()
	rawSend(t, peer, kindLookup, &wireCtl{Req: req, Name: "no such name"})
	var c wireCtl
	require.Equal(t, kindLookupReply, rawRecv(t, peer, &c))
	require.Equal(t, req, c.Req)
}

// A hostile peer releasing a negative number of references must not
// inflate the export's count (which, released when the link dies, drove
// the port's send-right count negative).
func TestHostileNegativeReleaseIsIgnored(t *testing.T) {
	clk := clock.NewManual(time.Unix(0, 0))
	a, peer := rawPeerClock(t, clk)
	server := newTask(t, a, "server")
	svc, _ := server.AllocatePort()
	require.NoError(t, server.Register("svc", svc))
	rawSend(t, peer, kindLookup, &wireCtl{Req: 1, Name: "svc"})
	var reply wireCtl
	require.Equal(t, kindLookupReply, rawRecv(t, peer, &reply))
	require.Equal(t, 2, status(t, server, svc).SendRights, "the registry's and the peer's")
	rawSend(t, peer, kindRelease, &wireCtl{ID: reply.Right.ID, N: -5})
	rawSync(t, peer, 2)
	require.Equal(t, 2, status(t, server, svc).SendRights)
	peer.Cut()
	require.Eventually(t, func() bool { return clk.Pending() > 0 }, 5*time.Second, time.Millisecond)
	clk.Advance(DefaultLinkTimeout)
	require.Equal(t, 1, status(t, server, svc).SendRights, "only the registry's is left")
}

// A send-once right exported to a peer and sent back home must arrive as
// the one right it is, not as a second one beside the export's.
// Reference: netmsg reference counting across nodes.
func TestSendOnceBouncedHomeCountsOnce(t *testing.T) {
	a, b, _, _ := linkedNodes(t, nil)
	server, svc, client, to := remoteService(t, a, b)
	reply, _ := client.AllocatePort()
	inbox, _ := client.AllocatePort()
	require.NoError(t, client.Send(ctxT(t), &Message{Dest: to, Reply: reply, ReplyDisp: MakeSendOnce,
		Rights: []PortRight{{Name: inbox, Disp: MakeSend}}}))
	req := recv(t, server, svc)
	require.Equal(t, RightSendOnce, req.ReplyType)
	require.Equal(t, 1, status(t, client, reply).SendOnce)
	// The server hands the send-once right back to the client's node.
	require.NoError(t, server.Send(ctxT(t), &Message{Dest: req.Rights[0].Name,
		Rights: []PortRight{{Name: req.Reply, Disp: MoveSendOnce}}}))
	m := recv(t, client, inbox)
	require.Equal(t, RightSendOnce, m.Rights[0].Type)
	require.Equal(t, 1, status(t, client, reply).SendOnce, "one send-once right exists")
	require.NoError(t, client.Send(ctxT(t), &Message{Dest: m.Rights[0].Name, ID: 9}))
	require.Equal(t, uint32(9), recv(t, client, reply).ID)
	require.Equal(t, 0, status(t, client, reply).SendOnce)
}

// A lookup waiting for its reply when the peer's link is replaced must
// end (its request went over the old link and will never be answered),
// not wait for ever.
func TestLookupEndsWhenLinkReplaced(t *testing.T) {
	a, peer := rawPeer(t)
	client := newTask(t, a, "client")
	done := make(chan error, 1)
	go func() { _, err := client.Lookup(context.Background(), "b", "svc"); done <- err }()
	var c wireCtl
	require.Equal(t, kindLookup, rawRecv(t, peer, &c), "the request went out")
	la2, _ := link.NewMemPair("a", "b", link.MemConfig{})
	require.NoError(t, a.AttachLink(la2))
	require.ErrorIs(t, waitDone(t, done, "lookup over a replaced link"), ErrNoLink)
}

// A notification request whose notify port is a proxy holds the proxy's
// only right once the task lets its send right go; when the notification
// fires and travels, the proxy must be released so the home port's send
// count (and no-senders) comes back.
func TestFiredNotificationReleasesRemoteNotifyProxy(t *testing.T) {
	a, b, _, _ := linkedNodes(t, nil)
	server, svc, client, to := remoteService(t, a, b)
	require.Equal(t, 2, status(t, server, svc).SendRights, "the registry's and the client's proxy's")
	watched, _ := client.AllocatePort()
	ws := giveSend(t, client, watched, client)
	require.NoError(t, client.RequestNotification(ws, NotifyPortDestroyed, to))
	require.NoError(t, client.RequestNotification(ws, NotifyNoSenders, to))
	require.NoError(t, client.Deallocate(to))
	require.NoError(t, client.Deallocate(ws)) // no-senders fires and travels
	require.Equal(t, uint32(NotifyNoSenders), recv(t, server, svc).ID)
	require.NoError(t, client.Destroy(watched)) // port-destroyed: the right dies with it on the wire
	require.Equal(t, uint32(NotifyPortDestroyed), recv(t, server, svc).ID)
	require.Eventually(t, func() bool { return status(t, server, svc).SendRights == 1 }, 5*time.Second, time.Millisecond,
		"the client's proxy was released")
}

// A proxy dropped while its link is down (and attached again before the
// link timeout) must still release the references the home node holds for
// it, once the link is back; they used to leak, and no-senders never fired.
func TestReleaseDuringLinkOutageSentOnReattach(t *testing.T) {
	clk := clock.NewManual(time.Unix(0, 0))
	a, b, la, _ := linkedNodes(t, clk)
	server, svc, client, to := remoteService(t, a, b)
	require.Equal(t, 2, status(t, server, svc).SendRights)
	la.Cut()
	require.Eventually(t, func() bool { return clk.Pending() >= 2 }, 5*time.Second, time.Millisecond, "both ends saw the loss")
	require.NoError(t, client.Deallocate(to))
	la2, lb2 := link.NewMemPair("a", "b", link.MemConfig{Clock: clk})
	require.NoError(t, a.AttachLink(la2))
	require.NoError(t, b.AttachLink(lb2))
	require.Eventually(t, func() bool { return status(t, server, svc).SendRights == 1 }, 5*time.Second, time.Millisecond,
		"the release reached the home node over the new link")
}

// A hostile peer naming a one-shot (send-once) export both as a message's
// destination and as a right it carries must not get two uses out of one
// send-once right (the port's send-once count went negative).
func TestHostileSendOnceExportUsedTwiceInOneMessage(t *testing.T) {
	a, peer := rawPeer(t)
	server := newTask(t, a, "server")
	svc, _ := server.AllocatePort()
	require.NoError(t, server.Register("svc", svc))
	rawSend(t, peer, kindLookup, &wireCtl{Req: 1, Name: "svc"})
	var lk wireCtl
	require.Equal(t, kindLookupReply, rawRecv(t, peer, &lk))
	// The peer gives the server a send right to a port of its own...
	peerPort := newPortID()
	rawSend(t, peer, kindMsg, &wireMsg{Dest: lk.Right.ID, Reply: &wireRight{ID: peerPort, Home: "b", Kind: RightSend}})
	toPeer := recv(t, server, svc).Reply
	// ...and the server sends there with a send-once reply right.
	reply, _ := server.AllocatePort()
	require.NoError(t, server.Send(ctxT(t), &Message{Dest: toPeer, Reply: reply, ReplyDisp: MakeSendOnce}))
	var w wireMsg
	require.Equal(t, kindMsg, rawRecv(t, peer, &w))
	require.Equal(t, RightSendOnce, w.Reply.Kind)
	require.Equal(t, 1, status(t, server, reply).SendOnce)
	// The peer uses the one-shot right as destination and carries it too.
	rawSend(t, peer, kindMsg, &wireMsg{Dest: w.Reply.ID, Reply: w.Reply})
	m := recv(t, server, reply)
	require.Equal(t, RightDeadName, m.ReplyType, "the right was used up as the destination")
	require.Equal(t, 0, status(t, server, reply).SendOnce)
}

// A lookup answered after its caller gave up (ctx ended) must hand the
// found send right back to its home node, or the home's export holds a
// reference no one will ever release.
func TestLateLookupReplyIsReleased(t *testing.T) {
	a, peer := rawPeer(t)
	client := newTask(t, a, "client")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := client.Lookup(ctx, "b", "svc"); done <- err }()
	var req wireCtl
	require.Equal(t, kindLookup, rawRecv(t, peer, &req))
	cancel()
	require.ErrorIs(t, waitDone(t, done, "cancelled lookup"), context.Canceled)
	id := newPortID()
	rawSend(t, peer, kindLookupReply, &wireCtl{Req: req.Req, Found: true, Right: wireRight{ID: id, Home: "b", Kind: RightSend}})
	var rel wireCtl
	require.Equal(t, kindRelease, rawRecv(t, peer, &rel))
	require.Equal(t, id, rel.ID)
	require.Equal(t, 1, rel.N)
}
