package kernel

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The public API: accessors, and errors (never panics) for bad
// arguments and full queues.

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

func TestStatusAndQueueLimitErrors(t *testing.T) {
	_, a, b := twoTasks(t)
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

// Nil arguments on the public API return an error instead of panicking.
func TestNilArgumentsDoNotPanic(t *testing.T) {
	n := newTestNode(t, "n")
	require.ErrorIs(t, n.AttachLink(nil), ErrInvalidValue)
	require.Equal(t, NameNull, NotifyName(nil))
}
