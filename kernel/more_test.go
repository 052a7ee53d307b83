package kernel

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Giving up a right cancels the dead-name request on it: the request's
// send-once right is destroyed unused (a send-once notification, as in
// Mach), and the port's later death sends no dead-name notification.
func TestDeadNameRequestCancelledWithTheRight(t *testing.T) {
	n := newTestNode(t, "n")
	a, b := newTask(t, n, "a"), newTask(t, n, "b")
	p, _ := b.AllocatePort()
	to := giveSend(t, b, p, a)
	notif, _ := a.AllocatePort()
	require.NoError(t, a.RequestNotification(to, NotifyDeadName, notif))
	require.Equal(t, 1, status(t, a, notif).SendOnce)
	require.NoError(t, a.Deallocate(to))
	require.Equal(t, 0, status(t, a, notif).SendOnce)
	m, err := a.TryReceive(notif)
	require.NoError(t, err)
	require.Equal(t, uint32(NotifySendOnce), m.ID)
	require.NoError(t, b.Destroy(p))
	_, err = a.TryReceive(notif)
	require.ErrorIs(t, err, ErrTimedOut, "no dead-name notification for a right given up")
}

func TestModRefsOnDeadNames(t *testing.T) {
	n := newTestNode(t, "n")
	a, b := newTask(t, n, "a"), newTask(t, n, "b")
	p, _ := b.AllocatePort()
	to := giveSend(t, b, p, a)
	require.ErrorIs(t, a.ModRefs(to, RightDeadName, 1), ErrInvalidRight, "a live send right is not a dead name")
	require.NoError(t, b.Destroy(p))
	require.Equal(t, RightDeadName, mustType(t, a, to))
	require.NoError(t, a.ModRefs(to, RightDeadName, 2))
	require.Equal(t, uint32(3), nameInfo(t, a, to).DeadRefs)
	require.ErrorIs(t, a.ModRefs(to, RightDeadName, -4), ErrInvalidValue)
	require.NoError(t, a.ModRefs(to, RightDeadName, -2))
	require.Equal(t, uint32(1), nameInfo(t, a, to).DeadRefs)
	require.NoError(t, a.ModRefs(to, RightDeadName, -1))
	_, err := a.Type(to)
	require.ErrorIs(t, err, ErrInvalidName, "the last dead reference frees the name")
}

func TestStatusAndQueueLimitErrors(t *testing.T) {
	n := newTestNode(t, "n")
	a, b := newTask(t, n, "a"), newTask(t, n, "b")
	p, _ := b.AllocatePort()
	to := giveSend(t, b, p, a)
	_, err := a.Status(Name(999))
	require.ErrorIs(t, err, ErrInvalidName)
	require.ErrorIs(t, a.SetQueueLimit(to, 4), ErrInvalidRight, "only the receiver sets the limit")
	require.ErrorIs(t, b.SetQueueLimit(p, 0), ErrInvalidValue)
	require.ErrorIs(t, b.SetQueueLimit(Name(999), 4), ErrInvalidName)
	require.NoError(t, b.SetQueueLimit(p, 4))
	st := status(t, a, to) // a send right sees the port's status too
	require.Equal(t, PortStatus{QueueLimit: 4, SendRights: 1}, st)
	require.NoError(t, b.Destroy(p))
	_, err = a.Status(to)
	require.ErrorIs(t, err, ErrInvalidRight, "a dead name has no status")
}

// A notification whose notify port is on another node travels there.
func TestNotificationToARemotePort(t *testing.T) {
	a, b, _, _ := linkedNodes(t, nil)
	server, svc, client, to := remoteService(t, a, b)
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

func TestAccessors(t *testing.T) {
	n := newTestNode(t, "node-x")
	task := newTask(t, n, "worker")
	require.Equal(t, "node-x", n.Name())
	require.Equal(t, "worker", task.Name())
	require.Same(t, n, task.Node())
	require.NotZero(t, task.ID())
	require.Contains(t, task.String(), "worker")
	require.Contains(t, n.String(), "node-x")
	require.Equal(t, "dead-name", NotifyDeadName.String())
}

func nameInfo(t *testing.T, task *Task, name Name) NameInfo {
	t.Helper()
	infos, err := task.Names()
	require.NoError(t, err)
	for _, in := range infos {
		if in.Name == name {
			return in
		}
	}
	t.Fatalf("name %d not in the space", name)
	return NameInfo{}
}

// mustInsert copies the send right name of from into to.
func mustInsert(t *testing.T, from *Task, name Name, to *Task) Name {
	t.Helper()
	got, err := from.InsertRight(to, name, CopySend, NameNull)
	require.NoError(t, err)
	return got
}

// Receivers of a task blocked on a port whose receive right moves away all
// return (the name no longer holds the receive right), and they do not
// swallow the wake-up of the new holder's receiver.
func TestMovedReceiveRightWakesStaleWaitersOnly(t *testing.T) {
	n := newTestNode(t, "n")
	a, b := newTask(t, n, "a"), newTask(t, n, "b")
	p, _ := a.AllocatePort()
	toP := giveSend(t, a, p, a)
	bport, _ := b.AllocatePort()
	toB := giveSend(t, b, bport, a)
	stale := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() { _, err := a.Receive(context.Background(), p); stale <- err }()
	}
	time.Sleep(2 * time.Millisecond) // let them block (passes either way)
	require.NoError(t, a.Send(ctxT(t), &Message{Dest: toB, Rights: []PortRight{{Name: p, Disp: MoveReceive}}}))
	carried := recv(t, b, bport).Rights[0].Name
	for i := 0; i < 2; i++ {
		require.ErrorIs(t, <-stale, ErrInvalidRight, "a keeps only a send right")
	}
	got := make(chan uint32, 1)
	go func() {
		if m, err := b.Receive(ctxT(t), carried); err == nil {
			got <- m.ID
		}
	}()
	time.Sleep(2 * time.Millisecond)
	require.NoError(t, a.Send(ctxT(t), &Message{Dest: toP, ID: 7}))
	require.Equal(t, uint32(7), <-got)
}
