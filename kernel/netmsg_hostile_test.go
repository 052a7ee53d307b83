package kernel

import (
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/kernel/clock"
	"github.com/ftm-in-go/ftm/kernel/link"
)

// A buggy or hostile peer, driven by hand frame by frame, cannot conjure
// rights or make the netmsg proxy miscount: forged rights arrive dead,
// bad release counts and one-shot exports used twice are ignored, garbage
// ends the link.

// rawPeer is a hand-driven peer: it speaks netmsg frames directly, as a
// buggy or hostile node could.
func rawPeer(t *testing.T) (*Node, *link.MemLink) {
	t.Helper()
	return rawPeerClock(t, nil)
}

// rawPeerClock is rawPeer on clk (nil: the real clock); on a manual clock
// the test decides when a lost link's exports are released.
func rawPeerClock(t *testing.T, clk clock.Clock) (*Node, *link.MemLink) {
	t.Helper()
	a := NewNode(Config{Name: "a", Clock: clk, Logger: zaptest.NewLogger(t)})
	t.Cleanup(a.Shutdown)
	la, lb := link.NewMemPair("a", "b", link.MemConfig{Clock: clk})
	require.NoError(t, a.AttachLink(la))
	return a, lb
}

func rawSend(t *testing.T, l link.Link, kind uint8, v any) {
	t.Helper()
	mh := codec.MsgpackHandle{WriteExt: true} // a general msgpack library, as another peer could use
	var body []byte
	require.NoError(t, codec.NewEncoderBytes(&body, &mh).Encode(v))
	require.NoError(t, l.Send(ctxT(t), link.Frame{Service: link.ServicePorts, Kind: kind, Body: body}))
}

func rawRecv(t *testing.T, l link.Link, v any) uint8 {
	t.Helper()
	f, err := l.Recv(ctxT(t))
	require.NoError(t, err)
	var mh codec.MsgpackHandle
	require.NoError(t, codec.NewDecoderBytes(f.Body, &mh).Decode(v))
	return f.Kind
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

// rawLookup registers a port "svc" on a new task of a and has the raw
// peer look it up: the server task, its port and the export the peer got.
func rawLookup(t *testing.T, a *Node, peer link.Link) (*Task, Name, wireCtl) {
	t.Helper()
	server := newTask(t, a, "server")
	svc, _ := server.AllocatePort()
	require.NoError(t, server.Register("svc", svc))
	rawSend(t, peer, kindLookup, &wireCtl{Req: 1, Name: "svc"})
	var reply wireCtl
	require.Equal(t, kindLookupReply, rawRecv(t, peer, &reply))
	return server, svc, reply
}

func TestPeerCannotConjureAReceiveRight(t *testing.T) {
	a, peer := rawPeer(t)
	server, svc, reply := rawLookup(t, a, peer)
	require.True(t, reply.Found)
	// Ask for the service's receive right by naming its id with kind receive.
	rawSend(t, peer, kindMsg, &wireMsg{Dest: reply.Right.ID, Rights: []wireRight{{ID: reply.Right.ID, Home: "a", Kind: RightReceive}}})
	m := recv(t, server, svc)
	require.Equal(t, RightDeadName, m.Rights[0].Type, "the forged right arrives dead")
	require.Equal(t, RightReceive, mustType(t, server, svc))
}

func TestUnknownPortIDIsAnsweredDead(t *testing.T) {
	_, peer := rawPeer(t)
	rawSend(t, peer, kindMsg, &wireMsg{Dest: newPortID()})
	var c wireCtl
	require.Equal(t, kindDead, rawRecv(t, peer, &c))
}

func TestGarbageFrameClosesLink(t *testing.T) {
	_, peer := rawPeer(t)
	require.NoError(t, peer.Send(ctxT(t), link.Frame{Service: link.ServicePorts, Kind: kindMsg, Body: []byte{0xc1}}))
	select {
	case <-peer.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a corrupt frame did not end the link")
	}
}

// A hostile peer releasing a negative number of references must not
// inflate the export's count (which, released when the link dies, drove
// the port's send-right count negative).
func TestHostileNegativeReleaseIsIgnored(t *testing.T) {
	clk := clock.NewManual(time.Unix(0, 0))
	a, peer := rawPeerClock(t, clk)
	server, svc, reply := rawLookup(t, a, peer)
	require.Equal(t, 2, status(t, server, svc).SendRights, "the registry's and the peer's")
	rawSend(t, peer, kindRelease, &wireCtl{ID: reply.Right.ID, N: -5})
	rawSync(t, peer, 2)
	require.Equal(t, 2, status(t, server, svc).SendRights)
	peer.Cut()
	require.Eventually(t, func() bool { return clk.Pending() > 0 }, 5*time.Second, time.Millisecond)
	clk.Advance(DefaultLinkTimeout)
	require.Equal(t, 1, status(t, server, svc).SendRights, "only the registry's is left")
}

// A hostile peer naming a one-shot (send-once) export both as a message's
// destination and as a right it carries must not get two uses out of one
// send-once right (the port's send-once count went negative).
func TestHostileSendOnceExportUsedTwiceInOneMessage(t *testing.T) {
	a, peer := rawPeer(t)
	server, svc, lk := rawLookup(t, a, peer)
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
