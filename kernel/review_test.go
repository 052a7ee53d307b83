package kernel

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Tests for bugs found in the review of the kernel package. Each names the
// bug it pins down.

// waitDone fails the test if ch is not closed/sent on soon: it detects a
// receiver blocked for ever (a deadlock), not a timing property.
func waitDone[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: blocked for ever (lost wake-up)", what)
	}
	var zero T
	return zero
}

// A second dead-name request on the same name must not count a send-once
// right that nobody holds.
func TestDeadNameRequestTwiceCountsOneSendOnce(t *testing.T) {
	n := newTestNode(t, "n")
	owner, watcher := newTask(t, n, "owner"), newTask(t, n, "watcher")
	p, _ := owner.AllocatePort()
	to := giveSend(t, owner, p, watcher)
	notif, _ := watcher.AllocatePort()
	require.NoError(t, watcher.RequestNotification(to, NotifyDeadName, notif))
	require.NoError(t, watcher.RequestNotification(to, NotifyDeadName, notif))
	require.Equal(t, 1, status(t, watcher, notif).SendOnce)
	require.NoError(t, owner.Destroy(p))
	require.Equal(t, uint32(NotifyDeadName), recv(t, watcher, notif).ID)
	require.Equal(t, 0, status(t, watcher, notif).SendOnce)
	require.NoError(t, checkInvariants(n))
}

// Two receivers of a port set between their look at the set and their wait
// on its wake channel; two messages land on two different members. The
// set's cap-1 wake channel holds one poke for both: the receiver that takes
// it must pass the wake-up on, or the other waits for ever with a message
// queued.
func TestPortSetTwoReceiversBothWake(t *testing.T) {
	n := newTestNode(t, "n")
	a, b := newTask(t, n, "a"), newTask(t, n, "b")
	set, _ := b.AllocatePortSet()
	p1, _ := b.AllocatePort()
	p2, _ := b.AllocatePort()
	require.NoError(t, b.MoveMember(p1, set))
	require.NoError(t, b.MoveMember(p2, set))
	to1, to2 := giveSend(t, b, p1, a), giveSend(t, b, p2, a)
	// Both receivers find the set empty and are about to wait.
	_, w1, err := b.tryReceive(set)
	require.NoError(t, err)
	_, w2, err := b.tryReceive(set)
	require.NoError(t, err)
	require.NoError(t, a.Send(ctxT(t), &Message{Dest: to1, ID: 1}))
	require.NoError(t, a.Send(ctxT(t), &Message{Dest: to2, ID: 2}))
	<-w1 // the first receiver wakes and takes a message
	m, _, err := b.tryReceive(set)
	require.NoError(t, err)
	require.NotNil(t, m)
	select { // the second must find a wake-up too
	case <-w2:
	default:
		t.Fatal("second set receiver not woken while a member holds a message")
	}
}

// waitBlocked waits until k goroutines are parked in the kernel's receive
// wait (read from the runtime's goroutine dump: no hook in the kernel).
func waitBlocked(t *testing.T, _ *Node, k int) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for i := 0; i < 2000; i++ {
		dump := string(buf[:runtime.Stack(buf, true)])
		if strings.Count(dump, "kernel.(*Task).waitReceive") >= k {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d receivers never blocked", k)
}

// A receiver of the task blocked (uncancellable ctx) on a port whose
// receive right the task destroys with a port-destroyed request armed: the
// right leaves in the notification, and the receiver must not wait on for
// ever on a port it no longer holds.
func TestPortDestroyedWakesBlockedReceiver(t *testing.T) {
	n := newTestNode(t, "n")
	owner, guardian := newTask(t, n, "owner"), newTask(t, n, "guardian")
	p, _ := owner.AllocatePort()
	gport, _ := guardian.AllocatePort()
	toG := giveSend(t, guardian, gport, owner)
	require.NoError(t, owner.RequestNotification(p, NotifyPortDestroyed, toG))
	done := make(chan error, 1)
	go func() { _, err := owner.Receive(context.Background(), p); done <- err }()
	waitBlocked(t, n, 1)
	require.NoError(t, owner.Destroy(p))
	require.ErrorIs(t, waitDone(t, done, "receiver of a port-destroyed right"), ErrInvalidName)
	m := recv(t, guardian, gport)
	require.Equal(t, uint32(NotifyPortDestroyed), m.ID)
}

// Two goroutines of task a block on port p; a moves p's receive right to
// b. The stale waiters must not swallow the wake-up meant for b's
// receiver.
func TestMovedReceiveRightStaleWaitersDoNotStealWakeups(t *testing.T) {
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
	waitBlocked(t, n, 2)
	require.NoError(t, a.Send(ctxT(t), &Message{Dest: toB, Rights: []PortRight{{Name: p, Disp: MoveReceive}}}))
	carried := recv(t, b, bport).Rights[0].Name
	for i := 0; i < 2; i++ {
		require.ErrorIs(t, waitDone(t, stale, "stale receiver"), ErrInvalidRight, "a keeps only a send right")
	}
	got := make(chan uint32, 1)
	go func() {
		m, err := b.Receive(context.Background(), carried)
		if err == nil {
			got <- m.ID
		}
	}()
	waitBlocked(t, n, 1)
	require.NoError(t, a.Send(ctxT(t), &Message{Dest: toP, ID: 7}))
	require.Equal(t, uint32(7), waitDone(t, got, "new holder's receiver"))
}

// A send that fails on a later right must leave the sender exactly as it
// was: moving the last send reference of a name with a dead-name request
// used to cancel the request (and queue a send-once notification) before
// the failure rolled the reference back. Reference: "On error nothing was
// sent and the sender keeps every right it named."
func TestFailedSendKeepsDeadNameRequest(t *testing.T) {
	n := newTestNode(t, "n")
	a, b := newTask(t, n, "a"), newTask(t, n, "b")
	p, _ := b.AllocatePort()
	to := giveSend(t, b, p, a)
	notif, _ := a.AllocatePort()
	require.NoError(t, a.RequestNotification(to, NotifyDeadName, notif))
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

// ModRefs with a delta beyond a uint32 reference count used to wrap the
// name's count while the port counted the full delta.
func TestModRefsOverflowRefused(t *testing.T) {
	n := newTestNode(t, "n")
	a, b := newTask(t, n, "a"), newTask(t, n, "b")
	p, _ := b.AllocatePort()
	to := giveSend(t, b, p, a)
	require.ErrorIs(t, a.ModRefs(to, RightSend, 1<<32), ErrInvalidValue)
	require.ErrorIs(t, a.ModRefs(to, RightSend, -(1<<32)), ErrInvalidValue)
	require.NoError(t, checkInvariants(n))
	require.Equal(t, 1, status(t, b, p).SendRights)
	require.NoError(t, b.Destroy(p))
	require.ErrorIs(t, a.ModRefs(to, RightDeadName, 1<<32), ErrInvalidValue)
	require.Equal(t, uint32(1), nameInfo(t, a, to).DeadRefs)
}

// Spawned servers and clients doing RPCs while other goroutines terminate
// them: no race (run with -race), no goroutine stuck, and the rights
// invariants hold once everything is quiet.
func TestConcurrentRPCAndTermination(t *testing.T) {
	n := NewNode(Config{Name: "n"})
	defer n.Shutdown()
	admin := newTask(t, n, "admin")
	svc, _ := admin.AllocatePort()
	ready := make(chan struct{})
	var served int
	server, err := n.Spawn("server", func(ctx context.Context, st *Task) error {
		<-ready
		for {
			m, err := st.Receive(ctx, svc)
			if err != nil {
				return nil
			}
			served++
			_ = st.TrySend(&Message{Dest: m.Reply, ID: m.ID})
		}
	})
	require.NoError(t, err)
	_, err = admin.InsertRight(server, svc, MoveReceive, svc)
	require.NoError(t, err)
	close(ready)
	var clients []*Task
	done := make(chan struct{}, 8)
	for i := 0; i < 6; i++ {
		c := newTask(t, n, "client")
		to := giveSend(t, server, svc, c)
		clients = append(clients, c)
		go func() {
			defer func() { done <- struct{}{} }()
			reply, err := c.AllocatePort()
			if err != nil {
				return
			}
			for j := 0; j < 300; j++ {
				if c.Send(context.Background(), &Message{Dest: to, Reply: reply, ID: uint32(j)}) != nil {
					return
				}
				if _, err := c.ReceiveTimeout(context.Background(), reply, time.Second); err != nil {
					return
				}
			}
		}()
	}
	go func() { // terminate half the clients while they run
		defer func() { done <- struct{}{} }()
		for i := 0; i < 3; i++ {
			runtime.Gosched()
			clients[i*2].Terminate()
		}
	}()
	for i := 0; i < 7; i++ {
		waitDone(t, done, "client")
	}
	require.NoError(t, checkInvariants(n))
	server.Terminate()
	<-server.Done()
	require.NoError(t, checkInvariants(n))
	n.Shutdown()
	require.Greater(t, served, 900, "the surviving clients' RPCs were served")
}

// Sending a message that still sits in a queue (a caller bug: it belongs
// to the kernel) used to link it into the queue twice, making a cycle: the
// receiver got it twice and the queue was corrupt. It is refused now.
func TestResendingAQueuedMessageIsRefused(t *testing.T) {
	n := newTestNode(t, "n")
	a, b := newTask(t, n, "a"), newTask(t, n, "b")
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

// InsertRight into the task's own space under a new name, moving the
// name's last send reference, renames the right (copyin frees the old
// name before copyout, as in Mach).
func TestInsertRightRenamesOwnLastSendRef(t *testing.T) {
	n := newTestNode(t, "n")
	a, b := newTask(t, n, "a"), newTask(t, n, "b")
	p, _ := b.AllocatePort()
	to := giveSend(t, b, p, a)
	got, err := a.InsertRight(a, to, MoveSend, 77)
	require.NoError(t, err)
	require.Equal(t, Name(77), got)
	require.Equal(t, RightSend, mustType(t, a, 77))
	_, err = a.Type(to)
	require.ErrorIs(t, err, ErrInvalidName)
	require.NoError(t, checkInvariants(n))
}

// Nil arguments on the public API return an error instead of panicking.
func TestNilArgumentsDoNotPanic(t *testing.T) {
	n := newTestNode(t, "n")
	require.ErrorIs(t, n.AttachLink(nil), ErrInvalidValue)
	require.Equal(t, NameNull, NotifyName(nil))
}
