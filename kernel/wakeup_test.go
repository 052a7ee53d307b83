package kernel

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Blocked receivers wake when they must and only then: receivers of a
// port set, of a port destroyed, of a receive right that moved away.

// Two receivers of a port set between their look at the set and their wait
// on its wake channel; two messages land on two different members. The
// set's cap-1 wake channel holds one poke for both: the receiver that takes
// it must pass the wake-up on, or the other waits for ever with a message
// queued.
func TestPortSetTwoReceiversBothWake(t *testing.T) {
	_, a, b := twoTasks(t)
	set, _ := b.AllocatePortSet()
	p1, _ := b.AllocatePort()
	p2, _ := b.AllocatePort()
	require.NoError(t, b.MoveMember(p1, set))
	require.NoError(t, b.MoveMember(p2, set))
	to1, to2 := giveSend(t, b, p1, a), giveSend(t, b, p2, a)
	tryReceive := func(name Name) (*Message, chan struct{}, error) {
		var w recvWait
		m, err := b.tryReceive(name, &w, true)
		return m, w.wake, err
	}
	// Both receivers find the set empty and are about to wait.
	_, w1, err := tryReceive(set)
	require.NoError(t, err)
	_, w2, err := tryReceive(set)
	require.NoError(t, err)
	require.NoError(t, a.Send(ctxT(t), &Message{Dest: to1, ID: 1}))
	require.NoError(t, a.Send(ctxT(t), &Message{Dest: to2, ID: 2}))
	<-w1 // the first receiver wakes and takes a message
	m, _, err := tryReceive(set)
	require.NoError(t, err)
	require.NotNil(t, m)
	select { // the second must find a wake-up too
	case <-w2:
	default:
		t.Fatal("second set receiver not woken while a member holds a message")
	}
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
	movedReceiveRightWakes(t, func(n *Node, k int) { waitBlocked(t, n, k) })
}

// Receivers of a task blocked on a port whose receive right moves away all
// return (the name no longer holds the receive right), and they do not
// swallow the wake-up of the new holder's receiver; here the receivers
// are given a moment to block instead of being seen blocked.
func TestMovedReceiveRightWakesStaleWaitersOnly(t *testing.T) {
	movedReceiveRightWakes(t, func(*Node, int) { time.Sleep(2 * time.Millisecond) }) // passes either way
}

// movedReceiveRightWakes blocks two receivers of task a on port p, moves
// p's receive right to b, and checks that both stale receivers return
// ErrInvalidRight and that b's receiver gets the next message. settle
// waits until k receivers are blocked.
func movedReceiveRightWakes(t *testing.T, settle func(n *Node, k int)) {
	n, a, b := twoTasks(t)
	p, _ := a.AllocatePort()
	toP := giveSend(t, a, p, a)
	bport, _ := b.AllocatePort()
	toB := giveSend(t, b, bport, a)
	stale := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() { _, err := a.Receive(context.Background(), p); stale <- err }()
	}
	settle(n, 2)
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
	settle(n, 1)
	require.NoError(t, a.Send(ctxT(t), &Message{Dest: toP, ID: 7}))
	require.Equal(t, uint32(7), waitDone(t, got, "new holder's receiver"))
}
