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
	srv := startEchoServer(t, n)
	done := make(chan struct{}, 8)
	clients := startRPCClients(t, srv, 6, done)
	go func() { // terminate half the clients while they run
		defer func() { done <- struct{}{} }()
		terminateEveryOther(clients)
	}()
	for i := 0; i < 7; i++ {
		waitDone(t, done, "client")
	}
	require.NoError(t, checkInvariants(n))
	srv.task.Terminate()
	<-srv.task.Done()
	require.NoError(t, checkInvariants(n))
	n.Shutdown()
	// Three clients survive with 300 RPCs each; a terminated one may have
	// been cut before its first, so 900 is the floor, not a bound to pass.
	require.GreaterOrEqual(t, srv.served, 900, "the surviving clients' RPCs were served")
}

// echoServer is a spawned task answering every request on svc, which
// names its receive right in its own name space.
type echoServer struct {
	task   *Task
	svc    Name
	served int // read only once task is done
}

// startEchoServer spawns the server and moves the service port's receive
// right into it before it starts receiving.
func startEchoServer(t *testing.T, n *Node) *echoServer {
	admin := newTask(t, n, "admin")
	svc, _ := admin.AllocatePort()
	s := &echoServer{svc: svc}
	ready := make(chan struct{})
	server, err := n.Spawn("server", func(ctx context.Context, st *Task) error {
		<-ready
		for {
			m, err := st.Receive(ctx, svc)
			if err != nil {
				return nil
			}
			s.served++
			_ = st.TrySend(&Message{Dest: m.Reply, ID: m.ID})
		}
	})
	require.NoError(t, err)
	s.task = server
	_, err = admin.InsertRight(server, svc, MoveReceive, svc)
	require.NoError(t, err)
	close(ready)
	return s
}

// startRPCClients starts count clients, each doing 300 RPCs to srv and
// signalling done when it finishes or its task is gone.
func startRPCClients(t *testing.T, srv *echoServer, count int, done chan<- struct{}) []*Task {
	var clients []*Task
	for i := 0; i < count; i++ {
		c := newTask(t, srv.task.Node(), "client")
		to := giveSend(t, srv.task, srv.svc, c)
		clients = append(clients, c)
		go func() {
			defer func() { done <- struct{}{} }()
			doRPCs(c, to, 300)
		}()
	}
	return clients
}

// doRPCs sends count requests to to, waiting for each reply; it stops at
// the first failure (the client terminated).
func doRPCs(c *Task, to Name, count int) {
	reply, err := c.AllocatePort()
	if err != nil {
		return
	}
	for j := 0; j < count; j++ {
		if c.Send(context.Background(), &Message{Dest: to, Reply: reply, ID: uint32(j)}) != nil {
			return
		}
		if _, err := c.ReceiveTimeout(context.Background(), reply, time.Second); err != nil {
			return
		}
	}
}

// terminateEveryOther terminates clients 0, 2, 4, … yielding between each.
func terminateEveryOther(clients []*Task) {
	for i := 0; i < len(clients); i += 2 {
		runtime.Gosched()
		clients[i].Terminate()
	}
}
