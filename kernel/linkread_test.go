package kernel

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/kernel/link"
)

// readingFor waits until a goroutine of task reads a link itself as the
// receiver of its port name (the path of linkread.go), and fails the test
// if none does.
func readingFor(t *testing.T, task *Task, name Name) {
	t.Helper()
	waitReading(t, task, name, true)
}

// waitReading waits until the receiver of name reads its link (want) or
// no longer does.
func waitReading(t *testing.T, task *Task, name Name, want bool) {
	t.Helper()
	n := task.node
	for i := 0; i < 5000; i++ {
		n.mu.Lock()
		e := task.names[name]
		reading := e != nil && e.p != nil && e.p.reading != nil && e.p.reading.inRecv == e.p
		n.mu.Unlock()
		if reading == want {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("receiver of %d reading its link: never %v", name, want)
}

// receiveAsync runs task.Receive(ctx, name) in a goroutine.
func receiveAsync(ctx context.Context, task *Task, name Name) <-chan recvResult {
	ch := make(chan recvResult, 1)
	go func() {
		m, err := task.Receive(ctx, name)
		ch <- recvResult{m, err}
	}()
	return ch
}

type recvResult struct {
	m   *Message
	err error
}

// rpcOnce makes one call from client to the echo server and checks the
// server read the request as a receiver reading the link.
func rpcOnce(t *testing.T, server *Task, svc Name, client *Task, to Name) {
	t.Helper()
	reply, err := client.AllocatePort()
	require.NoError(t, err)
	got := receiveAsync(ctxT(t), server, svc)
	require.NoError(t, client.Send(ctxT(t), &Message{Dest: to, Reply: reply, ID: 1}))
	r := waitDone(t, got, "server")
	require.NoError(t, r.err)
	require.NoError(t, server.Send(ctxT(t), &Message{Dest: r.m.Reply, DestDisp: MoveSendOnce, ID: 2}))
	require.Equal(t, uint32(2), recv(t, client, reply).ID)
}

// A local sender reaches a receiver that is reading the link for its port:
// the read is interrupted, the local message received, and the link goes on
// carrying remote messages to it.
func TestLocalSenderInterruptsAReceiverReadingTheLink(t *testing.T) {
	a, b, _ := linkedNodes(t, nil)
	server, svc := registerEcho(t, a)
	client, to := lookupEcho(t, b, "a")
	rpcOnce(t, server, svc, client, to)

	got := receiveAsync(ctxT(t), server, svc)
	readingFor(t, server, svc)
	local := newTask(t, a, "local")
	toLocal := giveSend(t, server, svc, local)
	require.NoError(t, local.Send(ctxT(t), &Message{Dest: toLocal, ID: 7}))
	r := waitDone(t, got, "receiver reading the link")
	require.NoError(t, r.err)
	require.Equal(t, uint32(7), r.m.ID)

	got = receiveAsync(ctxT(t), server, svc)
	require.NoError(t, client.Send(ctxT(t), &Message{Dest: to, ID: 8}))
	r = waitDone(t, got, "remote message after the interruption")
	require.NoError(t, r.err)
	require.Equal(t, uint32(8), r.m.ID)
}

// Destroying the port, or terminating the task, whose receiver reads the
// link takes the receiver out of its read with an error; the peer's right
// turns into a dead name.
func TestPortDestroyedWhileItsReceiverReadsTheLink(t *testing.T) {
	for _, how := range []string{"destroy", "terminate"} {
		t.Run(how, func(t *testing.T) {
			a, b, _ := linkedNodes(t, nil)
			server, svc := registerEcho(t, a)
			client, to := lookupEcho(t, b, "a")
			rpcOnce(t, server, svc, client, to)
			got := receiveAsync(context.Background(), server, svc)
			readingFor(t, server, svc)
			if how == "destroy" {
				require.NoError(t, server.Destroy(svc))
			} else {
				server.Terminate()
			}
			r := waitDone(t, got, "receiver of a destroyed port")
			require.Error(t, r.err)
			require.Nil(t, r.m)
			// The link lives on: the client's next message finds the port dead.
			require.Eventually(t, func() bool {
				err := client.Send(ctxT(t), &Message{Dest: to})
				return err != nil
			}, 10*time.Second, time.Millisecond)
		})
	}
}

// The link dies while a receiver reads it: the receiver keeps waiting on
// its port (a local sender still reaches it) and the peer's rights to the
// node's ports become dead names after the link timeout.
func TestLinkDiesWhileAReceiverReadsIt(t *testing.T) {
	a, b, la := linkedNodes(t, nil)
	server, svc := registerEcho(t, a)
	client, to := lookupEcho(t, b, "a")
	rpcOnce(t, server, svc, client, to)
	got := receiveAsync(ctxT(t), server, svc)
	readingFor(t, server, svc)
	la.Cut()
	require.Eventually(t, func() bool {
		typ, err := client.Type(to)
		return err == nil && typ == RightDeadName
	}, 10*time.Second, time.Millisecond, "the peer's right never died")
	select {
	case r := <-got:
		t.Fatalf("the receiver returned when the link died: %v", r.err)
	default:
	}
	local := newTask(t, a, "local")
	require.NoError(t, local.Send(ctxT(t), &Message{Dest: giveSend(t, server, svc, local), ID: 9}))
	r := waitDone(t, got, "receiver after its link died")
	require.NoError(t, r.err)
	require.Equal(t, uint32(9), r.m.ID)
}

// A receiver reading the link gives up when its context ends.
func TestReceiveTimeoutWhileReadingTheLink(t *testing.T) {
	a, b, _ := linkedNodes(t, nil)
	server, svc := registerEcho(t, a)
	client, to := lookupEcho(t, b, "a")
	rpcOnce(t, server, svc, client, to)
	ctx, cancel := context.WithCancel(context.Background())
	got := receiveAsync(ctx, server, svc)
	readingFor(t, server, svc)
	cancel()
	r := waitDone(t, got, "receiver whose context ended")
	require.ErrorIs(t, r.err, context.Canceled)
	_, err := server.ReceiveTimeout(context.Background(), svc, 20*time.Millisecond)
	require.ErrorIs(t, err, ErrTimedOut)
	rpcOnce(t, server, svc, client, to) // the link still carries calls
}

// A frame the reading task cannot deliver at once (the destination's queue
// is full) goes to the link's standby with the link: the reader is free for
// local senders meanwhile, and every message arrives, in order, once the
// full queue drains.
func TestReaderHandsAFullQueueToTheStandby(t *testing.T) {
	a, b, _ := linkedNodes(t, nil)
	server, svc := registerEcho(t, a)
	client, to := lookupEcho(t, b, "a")
	rpcOnce(t, server, svc, client, to)
	q, err := server.AllocatePort()
	require.NoError(t, err)
	require.NoError(t, server.SetQueueLimit(q, 1))
	require.NoError(t, server.Register("q", q))
	toQ, err := client.Lookup(ctxT(t), "a", "q")
	require.NoError(t, err)
	local := newTask(t, a, "local")
	require.NoError(t, local.Send(ctxT(t), &Message{Dest: giveSend(t, server, q, local), ID: 1}))

	got := receiveAsync(ctxT(t), server, svc)
	readingFor(t, server, svc)
	require.NoError(t, client.Send(ctxT(t), &Message{Dest: toQ, ID: 2})) // q is full
	require.NoError(t, client.Send(ctxT(t), &Message{Dest: to, ID: 3}))  // behind it on the link
	waitReading(t, server, svc, false)                                   // the reader handed frame 2 over
	require.NoError(t, local.Send(ctxT(t), &Message{Dest: giveSend(t, server, svc, local), ID: 4}))
	r := waitDone(t, got, "reader with a frame for a full queue")
	require.NoError(t, r.err)
	require.Equal(t, uint32(4), r.m.ID, "the local message first: the remote one waits behind q's")
	for _, want := range []uint32{1, 2} {
		require.Equal(t, want, recv(t, server, q).ID)
	}
	require.Equal(t, uint32(3), recv(t, server, svc).ID)
}

// muxLinkedNodes joins nodes a and b as a node does: the kernel gets the
// ports channel of a Mux over a link wrapped in network faults.
func muxLinkedNodes(t *testing.T) (a, b *Node) {
	t.Helper()
	a = NewNode(Config{Name: "a", Logger: zaptest.NewLogger(t)})
	b = NewNode(Config{Name: "b", Logger: zaptest.NewLogger(t)})
	t.Cleanup(a.Shutdown)
	t.Cleanup(b.Shutdown)
	la, lb := link.NewMemPair("a", "b", link.MemConfig{})
	fs := link.NewFaults()
	for _, side := range []struct {
		n *Node
		l link.Link
	}{{a, la}, {b, lb}} {
		mux := link.NewMux(fs.Wrap(side.l), zaptest.NewLogger(t))
		t.Cleanup(func() { _ = mux.Close(); <-mux.Done() })
		ports, err := mux.Channel(link.ServicePorts)
		require.NoError(t, err)
		require.NoError(t, side.n.AttachLink(ports))
	}
	return a, b
}

// Over a Mux channel (as between nodes), a receiver reads the link itself
// too, and a local sender still interrupts it.
func TestReceiverReadsAMuxChannelItself(t *testing.T) {
	a, b := muxLinkedNodes(t)
	server, svc := registerEcho(t, a)
	client, to := lookupEcho(t, b, "a")
	rpcOnce(t, server, svc, client, to)
	got := receiveAsync(ctxT(t), server, svc)
	readingFor(t, server, svc)
	local := newTask(t, a, "local")
	require.NoError(t, local.Send(ctxT(t), &Message{Dest: giveSend(t, server, svc, local), ID: 7}))
	r := waitDone(t, got, "receiver reading a mux channel")
	require.NoError(t, r.err)
	require.Equal(t, uint32(7), r.m.ID)
	rpcOnce(t, server, svc, client, to)
}
