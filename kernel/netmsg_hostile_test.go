package kernel

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel/clock"
)

// A hostile peer cannot make the netmsg proxy miscount: bad release
// counts and one-shot exports used twice are ignored.

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
