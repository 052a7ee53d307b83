package kernel

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

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
