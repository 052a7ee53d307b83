package servers

import (
	"context"
	"errors"
	"testing"

	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/stretchr/testify/require"
)

// The protocol runs over the in-memory transport as over kernel ports: an
// application's update joins the server's RU, the checkpoint commits both,
// and every protocol envelope crossed the in-memory network.
func TestInmemTransportCarriesTheProtocol(t *testing.T) {
	w := newWorld(t)
	w.inmem = NewInmemNetwork()
	w.serve("s", "kv")
	app := w.client("a", "app")
	_, err := mAdd("kv").Call(w.ctx, app, addReq{Key: "k", By: 2, Tag: "t1"})
	require.NoError(t, err)
	require.NoError(t, app.Checkpoint(w.ctx))
	require.Equal(t, 2, w.committed("kv").N["k"])
	envs, _ := w.hosts["a"].driver.Stats()
	require.Positive(t, envs, "the checkpoint sent no envelope")
	_, err = w.hosts["a"].names.Resolve(w.ctx, HostAddr("a"))
	require.Error(t, err, "a kernel protocol port was registered besides the in-memory transport")
}

// An in-memory transport loses envelopes to unbound or closed addresses,
// reaches a unit's own address once bound, and fails Receive once closed.
func TestInmemTransportAddresses(t *testing.T) {
	ctx := context.Background()
	n := NewInmemNetwork()
	a, b := n.Transport("a"), n.Transport("b")
	msg := ru.Msg{Kind: ru.MsgBuild, To: ru.ID{Name: "u", Inc: 1}}
	require.ErrorIs(t, a.Send(ctx, ru.Envelope{From: a.Addr(), To: UnitAddr("u"), Msgs: []ru.Msg{msg}}), ErrUnreachable)
	require.NoError(t, b.Bind("u"))
	require.NoError(t, a.Send(ctx, ru.Envelope{From: a.Addr(), To: UnitAddr("u"), Msgs: []ru.Msg{msg}}))
	env, err := b.Receive(ctx)
	require.NoError(t, err)
	require.Equal(t, a.Addr(), env.From)
	require.Equal(t, []ru.Msg{msg}, env.Msgs)
	require.NoError(t, b.Close())
	require.ErrorIs(t, a.Send(ctx, ru.Envelope{From: a.Addr(), To: HostAddr("b")}), ErrUnreachable)
	_, err = b.Receive(ctx)
	require.True(t, errors.Is(err, ErrClosed))
}
