package kernel

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDeadNameNotificationWhenReceiverTerminates(t *testing.T) {
	n := newTestNode(t, "n")
	server, client := newTask(t, n, "server"), newTask(t, n, "client")
	_, to, notif := watchDeadName(t, server, client)

	server.Terminate()
	m := recv(t, client, notif)
	require.Equal(t, uint32(NotifyDeadName), m.ID)
	require.Equal(t, to, NotifyName(m))
	require.Equal(t, RightDeadName, mustType(t, client, to))
	require.ErrorIs(t, client.TrySend(&Message{Dest: to}), ErrPortDead)
	require.NoError(t, client.Deallocate(to))
	_, err := client.Type(to)
	require.ErrorIs(t, err, ErrInvalidName)
	_, err = server.AllocatePort()
	require.ErrorIs(t, err, ErrTaskDead)
}

func TestDeadNameRequestOnDeadPortFiresAtOnce(t *testing.T) {
	_, a, b := twoTasks(t)
	p, _ := b.AllocatePort()
	to := giveSend(t, b, p, a)
	require.NoError(t, b.Destroy(p))
	notif, _ := a.AllocatePort()
	require.NoError(t, a.RequestNotification(to, NotifyDeadName, notif))
	require.Equal(t, to, NotifyName(recv(t, a, notif)))
}

func TestNoSendersNotification(t *testing.T) {
	n := newTestNode(t, "n")
	server, c1, c2 := newTask(t, n, "server"), newTask(t, n, "c1"), newTask(t, n, "c2")
	svc, _ := server.AllocatePort()
	notif, _ := server.AllocatePort()
	require.NoError(t, server.RequestNotification(svc, NotifyNoSenders, notif))
	m := recv(t, server, notif) // no senders yet: fires at once
	require.Equal(t, uint32(NotifyNoSenders), m.ID)

	s1, s2 := giveSend(t, server, svc, c1), giveSend(t, server, svc, c2)
	require.NoError(t, server.RequestNotification(svc, NotifyNoSenders, notif))
	require.NoError(t, c1.ModRefs(s1, RightSend, 2))
	require.Equal(t, 4, status(t, server, svc).SendRights)
	require.NoError(t, c1.ModRefs(s1, RightSend, -3))
	_, err := server.TryReceive(notif)
	require.ErrorIs(t, err, ErrTimedOut, "c2 still holds a send right")
	require.Equal(t, RightSend, mustType(t, c2, s2))
	c2.Terminate()
	m = recv(t, server, notif)
	require.Equal(t, uint32(NotifyNoSenders), m.ID)
	require.Equal(t, svc, NotifyName(m))
	require.Equal(t, 0, status(t, server, svc).SendRights)
}

func TestSendOnceNotificationWhenDestroyedUnused(t *testing.T) {
	n := newTestNode(t, "n")
	client, server := newTask(t, n, "client"), newTask(t, n, "server")
	svc, _ := server.AllocatePort()
	to := giveSend(t, server, svc, client)
	reply, _ := client.AllocatePort()
	require.NoError(t, client.Send(ctxT(t), &Message{Dest: to, Reply: reply}))
	req := recv(t, server, svc)
	require.Equal(t, 1, status(t, client, reply).SendOnce)
	server.Terminate() // dies holding the reply right
	m := recv(t, client, reply)
	require.Equal(t, uint32(NotifySendOnce), m.ID, "the client learns its request will not be answered")
	require.Equal(t, 0, status(t, client, reply).SendOnce)
	_ = req
}

func TestPortDestroyedNotificationCarriesReceiveRight(t *testing.T) {
	n := newTestNode(t, "n")
	owner, guardian := newTask(t, n, "owner"), newTask(t, n, "guardian")
	p, _ := owner.AllocatePort()
	self := giveSend(t, owner, p, owner)
	require.NoError(t, owner.Send(ctxT(t), &Message{Dest: self, ID: 5}))
	gport, _ := guardian.AllocatePort()
	toG := giveSend(t, guardian, gport, owner)
	require.NoError(t, owner.RequestNotification(p, NotifyPortDestroyed, toG))
	owner.Terminate()

	m := recv(t, guardian, gport)
	require.Equal(t, uint32(NotifyPortDestroyed), m.ID)
	require.Equal(t, RightReceive, m.Rights[0].Type)
	require.Equal(t, uint32(5), recv(t, guardian, m.Rights[0].Name).ID, "the port and its queue survived")
}

func TestRequestNotificationErrors(t *testing.T) {
	_, a, b := twoTasks(t)
	p, _ := a.AllocatePort()
	to := giveSend(t, a, p, b)
	notif, _ := b.AllocatePort()
	require.ErrorIs(t, b.RequestNotification(999, NotifyDeadName, notif), ErrInvalidName)
	require.ErrorIs(t, b.RequestNotification(to, NotifyDeadName, 999), ErrInvalidName)
	require.ErrorIs(t, b.RequestNotification(to, NotifyNoSenders, notif), ErrInvalidRight)
	require.ErrorIs(t, b.RequestNotification(notif, NotifyDeadName, notif), ErrInvalidRight)
	require.ErrorIs(t, b.RequestNotification(to, NotifyKind(1), notif), ErrInvalidValue)
}

func TestTerminationReleasesEverything(t *testing.T) {
	_, a, b := twoTasks(t)
	bp, _ := b.AllocatePort()
	toB := giveSend(t, b, bp, a)
	require.NoError(t, a.ModRefs(toB, RightSend, 4))
	ap, _ := a.AllocatePort()
	toA := giveSend(t, a, ap, b)
	// a message queued on a's port carries a send right to b's port
	require.NoError(t, b.Send(ctxT(t), &Message{Dest: toA, Rights: []PortRight{{Name: bp, Disp: MakeSend}}}))
	require.Equal(t, 6, status(t, b, bp).SendRights)
	a.Terminate()
	a.Terminate() // idempotent
	require.Equal(t, 0, status(t, b, bp).SendRights, "held and queued rights are released")
	require.Equal(t, RightDeadName, mustType(t, b, toA))
	<-a.Done()
}

func TestModRefsErrors(t *testing.T) {
	n := newTestNode(t, "n")
	a := newTask(t, n, "a")
	p, _ := a.AllocatePort()
	require.ErrorIs(t, a.ModRefs(p, RightSend, 1), ErrInvalidRight, "no send right yet")
	require.NoError(t, a.MakeSend(p))
	require.ErrorIs(t, a.ModRefs(p, RightSend, -2), ErrInvalidValue)
	require.ErrorIs(t, a.ModRefs(p, RightReceive, 1), ErrInvalidValue)
	require.ErrorIs(t, a.ModRefs(p, RightDeadName, -1), ErrInvalidRight)
	require.ErrorIs(t, a.ModRefs(p, RightPortSet, -1), ErrInvalidRight)
	require.ErrorIs(t, a.Deallocate(999), ErrInvalidName)
	require.ErrorIs(t, a.SetQueueLimit(p, 0), ErrInvalidValue)
	require.NoError(t, a.ModRefs(p, RightReceive, -1))
	require.Equal(t, RightDeadName, mustType(t, a, p), "the send right left behind is now a dead name")
}

func TestInsertAndExtractRight(t *testing.T) {
	n, a, b := twoTasks(t)
	p, _ := a.AllocatePort()
	got, err := a.InsertRight(b, p, MakeSend, 77)
	require.NoError(t, err)
	require.Equal(t, Name(77), got)
	require.Equal(t, RightSend, mustType(t, b, 77))
	_, err = a.InsertRight(b, p, MakeSend, 77)
	require.ErrorIs(t, err, ErrNameExists)
	q, _ := a.AllocatePort()
	_, err = a.InsertRight(b, q, MakeSend, 77)
	require.ErrorIs(t, err, ErrNameExists)
	require.Equal(t, 0, status(t, a, q).SendRights, "a refused insert leaves no right behind")

	c := newTask(t, n, "c")
	moved, err := c.ExtractRight(a, q, MoveReceive)
	require.NoError(t, err)
	require.Equal(t, RightReceive, mustType(t, c, moved))
	_, err = a.Type(q)
	require.ErrorIs(t, err, ErrInvalidName)
	_, err = c.ExtractRight(nil, q, MoveReceive)
	require.ErrorIs(t, err, ErrInvalidValue)
	other := newTestNode(t, "other")
	_, err = a.InsertRight(newTask(t, other, "x"), p, MakeSend, NameNull)
	require.ErrorIs(t, err, ErrInvalidValue)
}

func TestShutdownEndsSpawnedTasks(t *testing.T) {
	n := NewNode(Config{Name: "n"})
	started := make(chan Name)
	_, err := n.Spawn("server", func(ctx context.Context, task *Task) error {
		p, err := task.AllocatePort()
		if err != nil {
			return err
		}
		started <- p
		_, err = task.Receive(ctx, p)
		return err
	})
	require.NoError(t, err)
	<-started
	n.Shutdown()
	require.Empty(t, n.Tasks())
	_, err = n.NewTask("late")
	require.ErrorIs(t, err, ErrNodeDown)
}

// Giving up a right cancels the dead-name request on it: the request's
// send-once right is destroyed unused (a send-once notification, as in
// Mach), and the port's later death sends no dead-name notification.
func TestDeadNameRequestCancelledWithTheRight(t *testing.T) {
	_, a, b := twoTasks(t)
	p, to, notif := watchDeadName(t, b, a)
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

// A second dead-name request on the same name must not count a send-once
// right that nobody holds.
func TestDeadNameRequestTwiceCountsOneSendOnce(t *testing.T) {
	n := newTestNode(t, "n")
	owner, watcher := newTask(t, n, "owner"), newTask(t, n, "watcher")
	p, to, notif := watchDeadName(t, owner, watcher)
	require.NoError(t, watcher.RequestNotification(to, NotifyDeadName, notif))
	require.Equal(t, 1, status(t, watcher, notif).SendOnce)
	require.NoError(t, owner.Destroy(p))
	require.Equal(t, uint32(NotifyDeadName), recv(t, watcher, notif).ID)
	require.Equal(t, 0, status(t, watcher, notif).SendOnce)
	require.NoError(t, checkInvariants(n))
}
