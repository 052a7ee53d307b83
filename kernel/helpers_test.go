package kernel

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newTestNode(t testing.TB, name string) *Node {
	t.Helper()
	n := NewNode(Config{Name: name, Logger: zaptest.NewLogger(t)})
	t.Cleanup(n.Shutdown)
	return n
}

func newTask(t testing.TB, n *Node, name string) *Task {
	t.Helper()
	task, err := n.NewTask(name)
	require.NoError(t, err)
	return task
}

// twoTasks is a node "n" with two tasks, "a" and "b".
func twoTasks(t testing.TB) (*Node, *Task, *Task) {
	t.Helper()
	n := newTestNode(t, "n")
	return n, newTask(t, n, "a"), newTask(t, n, "b")
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// giveSend makes a send right for a's receive right rcv and gives it to b.
func giveSend(t testing.TB, a *Task, rcv Name, b *Task) Name {
	t.Helper()
	name, err := a.InsertRight(b, rcv, MakeSend, NameNull)
	require.NoError(t, err)
	return name
}

// watchDeadName allocates a port of owner, gives watcher a send right to
// it and has watcher request a dead-name notification on that right, sent
// to a new port of watcher: the port, the right's name and the notify port.
func watchDeadName(t testing.TB, owner, watcher *Task) (port, to, notif Name) {
	t.Helper()
	port, _ = owner.AllocatePort()
	to = giveSend(t, owner, port, watcher)
	notif, _ = watcher.AllocatePort()
	require.NoError(t, watcher.RequestNotification(to, NotifyDeadName, notif))
	return port, to, notif
}

func recv(t testing.TB, task *Task, name Name) *Message {
	t.Helper()
	m, err := task.Receive(ctxT(t), name)
	require.NoError(t, err)
	return m
}

func status(t testing.TB, task *Task, name Name) PortStatus {
	t.Helper()
	s, err := task.Status(name)
	require.NoError(t, err)
	return s
}

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
