package names

import (
	"context"
	"errors"
	"testing"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/kerneltest"
	"github.com/stretchr/testify/require"
)

// A name registered on one node resolves from the other; when the port
// dies and the owner re-binds the name to a new port, a client that
// forgets the dead answer resolves the new one.
func TestRegisterResolveAcrossNodesAndRebind(t *testing.T) {
	ctx := context.Background()
	na, nb := kerneltest.LinkedNodes(t, "a", "b")
	owner, _ := na.NewTask("owner")
	client, _ := nb.NewTask("client")
	so, sc := NewKernel(owner, nil), NewKernel(client, nil)

	_, err := sc.Resolve(ctx, "svc")
	require.ErrorIs(t, err, ErrNotFound)
	require.Error(t, so.Register("", kernel.NameNull))

	p1, _ := owner.AllocatePort()
	require.NoError(t, so.Register("svc", p1))
	r1, err := sc.Resolve(ctx, "svc")
	require.NoError(t, err)
	again, err := sc.Resolve(ctx, "svc")
	require.NoError(t, err)
	require.Equal(t, r1, again, "cached")
	send(t, client, r1, 1)
	got, err := owner.Receive(ctx, p1)
	require.NoError(t, err)
	require.Equal(t, uint32(1), got.ID)

	require.NoError(t, owner.Destroy(p1)) // the server dies ...
	p2, _ := owner.AllocatePort()
	require.NoError(t, so.Register("svc", p2)) // ... and re-binds its persistent name
	sc.Forget("svc", r1)
	r2, err := sc.Resolve(ctx, "svc")
	require.NoError(t, err)
	send(t, client, r2, 2)
	got, err = owner.Receive(ctx, p2)
	require.NoError(t, err)
	require.Equal(t, uint32(2), got.ID)
}

func send(t *testing.T, task *kernel.Task, to kernel.Name, id uint32) {
	t.Helper()
	m := kernel.NewMessage()
	m.Dest, m.ID = to, id
	if err := task.Send(context.Background(), m); err != nil && !errors.Is(err, kernel.ErrPortDead) {
		t.Fatal(err)
	}
}
