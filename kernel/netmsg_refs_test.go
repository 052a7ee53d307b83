package kernel

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel/clock"
	"github.com/ftm-in-go/ftm/kernel/link"
)

// Rights and notifications that cross nodes: counted once, released when
// their use ends, even across a link outage.

// A send-once right exported to a peer and sent back home must arrive as
// the one right it is, not as a second one beside the export's.
// Reference: netmsg reference counting across nodes.
func TestSendOnceBouncedHomeCountsOnce(t *testing.T) {
	a, b, _ := linkedNodes(t, nil)
	server, svc := registerEcho(t, a)
	client, to := lookupEcho(t, b, "a")
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

// A proxy dropped while its link is down (and attached again before the
// link timeout) must still release the references the home node holds for
// it, once the link is back; they used to leak, and no-senders never fired.
func TestReleaseDuringLinkOutageSentOnReattach(t *testing.T) {
	clk := clock.NewManual(time.Unix(0, 0))
	a, b, la := linkedNodes(t, clk)
	server, svc := registerEcho(t, a)
	client, to := lookupEcho(t, b, "a")
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

// A notification whose notify port is on another node travels there.
func TestNotificationToARemotePort(t *testing.T) {
	a, b, _ := linkedNodes(t, nil)
	server, svc := registerEcho(t, a)
	client, to := lookupEcho(t, b, "a")
	require.True(t, status(t, client, to).Remote)
	require.Equal(t, []string{"a"}, b.Peers())
	watched, _ := client.AllocatePort()
	holder := newTask(t, b, "holder")
	ws := giveSend(t, client, watched, holder)
	require.NoError(t, holder.RequestNotification(ws, NotifyDeadName, mustInsert(t, client, to, holder)))
	require.NoError(t, client.Destroy(watched))
	m := recv(t, server, svc)
	require.Equal(t, uint32(NotifyDeadName), m.ID)
	require.Equal(t, ws, NotifyName(m))
}

// A notification request whose notify port is a proxy holds the proxy's
// only right once the task lets its send right go; when the notification
// fires and travels, the proxy must be released so the home port's send
// count (and no-senders) comes back.
func TestFiredNotificationReleasesRemoteNotifyProxy(t *testing.T) {
	a, b, _ := linkedNodes(t, nil)
	server, svc := registerEcho(t, a)
	client, to := lookupEcho(t, b, "a")
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
