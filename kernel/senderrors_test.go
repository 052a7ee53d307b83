package kernel

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A send that fails leaves the sender exactly as it was before the call.

// A send that fails on a later right must leave the sender exactly as it
// was: moving the last send reference of a name with a dead-name request
// used to cancel the request (and queue a send-once notification) before
// the failure rolled the reference back. Reference: "On error nothing was
// sent and the sender keeps every right it named."
func TestFailedSendKeepsDeadNameRequest(t *testing.T) {
	n, a, b := twoTasks(t)
	p, to, notif := watchDeadName(t, b, a)
	err := a.Send(ctxT(t), &Message{Dest: to, DestDisp: MoveSend, Rights: []PortRight{{Name: 999}}})
	require.ErrorIs(t, err, ErrInvalidName)
	_, err = a.TryReceive(notif)
	require.ErrorIs(t, err, ErrTimedOut, "no notification from a send that did not happen")
	require.NoError(t, b.Destroy(p))
	require.Equal(t, uint32(NotifyDeadName), recv(t, a, notif).ID, "the request survived")
	require.NoError(t, checkInvariants(n))
}

// A failed send that named a set member's receive right with MoveReceive
// leaves the port in its set.
func TestFailedSendKeepsSetMembership(t *testing.T) {
	n := newTestNode(t, "n")
	a := newTask(t, n, "a")
	set, _ := a.AllocatePortSet()
	p, _ := a.AllocatePort()
	q, _ := a.AllocatePort()
	require.NoError(t, a.MoveMember(p, set))
	toQ := giveSend(t, a, q, a)
	err := a.Send(ctxT(t), &Message{Dest: toQ, Rights: []PortRight{{Name: p, Disp: MoveReceive}, {Name: 999}}})
	require.ErrorIs(t, err, ErrInvalidName)
	require.True(t, status(t, a, p).InSet)
	require.NoError(t, checkInvariants(n))
}

// Sending a message that still sits in a queue (a caller bug: it belongs
// to the kernel) used to link it into the queue twice, making a cycle: the
// receiver got it twice and the queue was corrupt. It is refused now.
func TestResendingAQueuedMessageIsRefused(t *testing.T) {
	n, a, b := twoTasks(t)
	p, _ := b.AllocatePort()
	to := giveSend(t, b, p, a)
	m := &Message{Dest: to, ID: 1}
	require.NoError(t, a.Send(ctxT(t), m))
	require.ErrorIs(t, a.Send(ctxT(t), m), ErrInvalidValue)
	require.Equal(t, 1, status(t, b, p).QueueLen)
	require.Equal(t, uint32(1), recv(t, b, p).ID)
	_, err := b.TryReceive(p)
	require.ErrorIs(t, err, ErrTimedOut)
	require.NoError(t, checkInvariants(n))
}
