package kerneltest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/kerneltest"
)

func TestLinkedNodesCarryAMessageFromOneToTheOther(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	na, nb := kerneltest.LinkedNodes(t, "x", "y")
	server, err := na.NewTask("server")
	require.NoError(t, err)
	svc, err := server.AllocatePort()
	require.NoError(t, err)
	require.NoError(t, server.Register("svc", svc))
	client, err := nb.NewTask("client")
	require.NoError(t, err)
	to, err := client.Lookup(ctx, "x", "svc")
	require.NoError(t, err)
	require.NoError(t, client.Send(ctx, &kernel.Message{Dest: to, ID: 42}))
	m, err := server.Receive(ctx, svc)
	require.NoError(t, err)
	require.Equal(t, uint32(42), m.ID)
}
