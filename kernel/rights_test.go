package kernel

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Reference counts of rights: on dead names, past a uint32, and when a
// task renames its own last send reference.

func TestModRefsOnDeadNames(t *testing.T) {
	_, a, b := twoTasks(t)
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

// ModRefs with a delta beyond a uint32 reference count used to wrap the
// name's count while the port counted the full delta.
func TestModRefsOverflowRefused(t *testing.T) {
	n, a, b := twoTasks(t)
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

// InsertRight into the task's own space under a new name, moving the
// name's last send reference, renames the right (copyin frees the old
// name before copyout, as in Mach).
func TestInsertRightRenamesOwnLastSendRef(t *testing.T) {
	n, a, b := twoTasks(t)
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
