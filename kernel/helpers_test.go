package kernel

import (
	"context"
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
