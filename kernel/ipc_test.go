package kernel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/kernel/clock"
)

func TestRPCRoundTripWithSendOnceReply(t *testing.T) {
	n := newTestNode(t, "n")
	server, client := newTask(t, n, "server"), newTask(t, n, "client")
	svc, err := server.AllocatePort()
	require.NoError(t, err)
	toSvc := giveSend(t, server, svc, client)
	reply, err := client.AllocatePort()
	require.NoError(t, err)

	ctx := ctxT(t)
	require.NoError(t, client.Send(ctx, &Message{Dest: toSvc, Reply: reply, ID: 7, RU: 42, Body: []byte("ping")}))
	req := recv(t, server, svc)
	require.Equal(t, svc, req.Dest)
	require.Equal(t, uint32(7), req.ID)
	require.Equal(t, uint64(42), req.RU)
	require.Equal(t, "ping", string(req.Body))
	require.Equal(t, RightSendOnce, req.ReplyType)

	require.NoError(t, server.Send(ctx, &Message{Dest: req.Reply, Body: []byte("pong")}))
	rep := recv(t, client, reply)
	require.Equal(t, "pong", string(rep.Body))
	_, err = server.Type(req.Reply)
	require.ErrorIs(t, err, ErrInvalidName, "the send-once right was used up")
	require.Equal(t, 0, status(t, client, reply).SendOnce)
}

func TestFIFOPerSenderAndSeqno(t *testing.T) {
	n := newTestNode(t, "n")
	rcv, snd := newTask(t, n, "r"), newTask(t, n, "s")
	p, _ := rcv.AllocatePort()
	to := giveSend(t, rcv, p, snd)
	require.NoError(t, rcv.SetQueueLimit(p, 1000))
	for i := 0; i < 100; i++ {
		require.NoError(t, snd.Send(ctxT(t), &Message{Dest: to, ID: uint32(i)}))
	}
	for i := 0; i < 100; i++ {
		m := recv(t, rcv, p)
		require.Equal(t, uint32(i), m.ID)
		require.Equal(t, uint64(i), m.Seqno)
	}
	require.Equal(t, uint64(100), status(t, rcv, p).Seqno)
}

func TestQueueLimitBlocksThenTimesOut(t *testing.T) {
	n := newTestNode(t, "n")
	rcv, snd := newTask(t, n, "r"), newTask(t, n, "s")
	p, _ := rcv.AllocatePort()
	to := giveSend(t, rcv, p, snd)
	require.NoError(t, rcv.SetQueueLimit(p, 2))
	require.NoError(t, snd.TrySend(&Message{Dest: to}))
	require.NoError(t, snd.TrySend(&Message{Dest: to}))
	require.ErrorIs(t, snd.TrySend(&Message{Dest: to}), ErrQueueFull)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, snd.Send(ctx, &Message{Dest: to}), ErrTimedOut)
	require.Equal(t, 2, status(t, rcv, p).QueueLen)

	// A blocked sender goes on as soon as the receiver makes room.
	sent := make(chan error, 1)
	go func() { sent <- snd.Send(ctxT(t), &Message{Dest: to, ID: 3}) }()
	recv(t, rcv, p)
	require.NoError(t, <-sent)
	require.Equal(t, 2, status(t, rcv, p).QueueLen)
	require.Equal(t, 1, status(t, rcv, p).SendRights, "failed sends kept the sender's right and made none")
}

func TestReceiveTimeoutsAndCancel(t *testing.T) {
	n := newTestNode(t, "n")
	task := newTask(t, n, "r")
	p, _ := task.AllocatePort()
	_, err := task.TryReceive(p)
	require.ErrorIs(t, err, ErrTimedOut)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = task.Receive(ctx, p)
	require.ErrorIs(t, err, ErrTimedOut)
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	_, err = task.Receive(ctx2, p)
	require.ErrorIs(t, err, context.Canceled)
	_, err = task.ReceiveTimeout(context.Background(), p, time.Millisecond)
	require.ErrorIs(t, err, ErrTimedOut)
}

// SendTimeout and ReceiveTimeout run on the node's clock: nothing times out
// until the manual clock passes the bound.
func TestTimeoutsFollowTheNodeClock(t *testing.T) {
	clk := clock.NewManual(time.Unix(0, 0))
	n := NewNode(Config{Name: "n", Clock: clk, Logger: zaptest.NewLogger(t)})
	t.Cleanup(n.Shutdown)
	rcv, snd := newTask(t, n, "r"), newTask(t, n, "s")
	p, _ := rcv.AllocatePort()
	to := giveSend(t, rcv, p, snd)
	require.NoError(t, rcv.SetQueueLimit(p, 1))
	require.NoError(t, snd.SendTimeout(ctxT(t), &Message{Dest: to, ID: 1}, time.Second))

	sent := make(chan error, 1)
	go func() { sent <- snd.SendTimeout(ctxT(t), &Message{Dest: to, ID: 2}, time.Second) }()
	waitPending(t, clk, 1)
	clk.Advance(999 * time.Millisecond)
	select {
	case err := <-sent:
		t.Fatalf("send ended before its timeout: %v", err)
	default:
	}
	clk.Advance(time.Millisecond)
	require.ErrorIs(t, <-sent, ErrTimedOut)
	require.Equal(t, 1, status(t, rcv, p).QueueLen)
	require.Equal(t, 1, status(t, rcv, p).SendRights, "a timed-out send keeps the sender's right")

	require.Equal(t, uint32(1), recv(t, rcv, p).ID)
	got := make(chan error, 1)
	go func() { _, err := rcv.ReceiveTimeout(ctxT(t), p, time.Second); got <- err }()
	waitPending(t, clk, 1)
	clk.Advance(time.Second)
	require.ErrorIs(t, <-got, ErrTimedOut)
}

// waitPending waits until k timers are armed on clk.
func waitPending(t *testing.T, clk *clock.Manual, k int) {
	t.Helper()
	require.Eventually(t, func() bool { return clk.Pending() >= k }, 5*time.Second, time.Millisecond)
}

// A receiver blocked with a context that cannot end still returns when its
// task terminates or when the receive right leaves the task.
func TestUncancellableReceiveEnds(t *testing.T) {
	_, a, b := twoTasks(t)
	p, _ := a.AllocatePort()
	got := make(chan error, 1)
	go func() { _, err := a.Receive(context.Background(), p); got <- err }()
	time.Sleep(time.Millisecond) // let it block (passes either way)
	_, err := a.InsertRight(b, p, MoveReceive, NameNull)
	require.NoError(t, err)
	require.ErrorIs(t, <-got, ErrInvalidName)

	q, _ := a.AllocatePort()
	set, _ := a.AllocatePortSet()
	for _, name := range []Name{q, set} {
		go func() { _, err := a.Receive(context.Background(), name); got <- err }()
	}
	time.Sleep(time.Millisecond) // let them block (either order passes)
	a.Terminate()
	require.ErrorIs(t, <-got, ErrTaskDead)
	require.ErrorIs(t, <-got, ErrTaskDead)
}

func TestSendErrorsLeaveRightsUntouched(t *testing.T) {
	_, a, b := twoTasks(t)
	p, _ := b.AllocatePort()
	to := giveSend(t, b, p, a)
	own, _ := a.AllocatePort()

	cases := []struct {
		m    *Message
		want error
	}{
		{nil, ErrInvalidValue},
		{&Message{Dest: 999}, ErrInvalidName},
		{&Message{Dest: NameNull}, ErrInvalidName},
		{&Message{Dest: to, DestDisp: MakeSend}, ErrInvalidRight},
		{&Message{Dest: to, Reply: 999}, ErrInvalidName},
		{&Message{Dest: to, Rights: []PortRight{{Name: own, Disp: MoveReceive}, {Name: to, Disp: MoveSendOnce}}}, ErrInvalidRight},
		{&Message{Dest: to, Rights: []PortRight{{Name: own, Disp: Disposition(99)}}}, ErrInvalidRight},
		{&Message{Dest: to, Body: make([]byte, DefaultMaxBody+1)}, ErrMsgTooLarge},
		{&Message{Dest: to, Rights: make([]PortRight, DefaultMaxRights+1)}, ErrMsgTooLarge},
	}
	before, _ := a.Names()
	for i, c := range cases {
		require.ErrorIs(t, a.TrySend(c.m), c.want, "case %d", i)
	}
	after, _ := a.Names()
	require.Equal(t, before, after, "failed sends must not move any right")
	require.Equal(t, 1, status(t, b, p).SendRights)
	require.Equal(t, 0, status(t, b, p).QueueLen)
}

func TestCarriedRightsMoveAndCopy(t *testing.T) {
	_, a, b := twoTasks(t)
	inbox, _ := b.AllocatePort()
	to := giveSend(t, b, inbox, a)
	x, _ := a.AllocatePort()
	y, _ := a.AllocatePort()
	require.NoError(t, a.MakeSend(y))

	require.NoError(t, a.Send(ctxT(t), &Message{Dest: to, Rights: []PortRight{
		{Name: x, Disp: MoveReceive}, {Name: y, Disp: CopySend}, {Name: y, Disp: MakeSendOnce},
	}}))
	_, err := a.Type(x)
	require.ErrorIs(t, err, ErrInvalidName, "the receive right left a")
	m := recv(t, b, inbox)
	require.Equal(t, RightReceive, m.Rights[0].Type)
	require.Equal(t, RightSend, m.Rights[1].Type)
	require.Equal(t, RightSendOnce, m.Rights[2].Type)
	require.Equal(t, 2, status(t, a, y).SendRights, "a's own and b's copy")
	require.Equal(t, 1, status(t, a, y).SendOnce)

	// b now receives on x.
	xb := m.Rights[0].Name
	self := giveSend(t, b, xb, b)
	require.Equal(t, xb, self, "a task's send and receive rights share a name")
	require.NoError(t, b.Send(ctxT(t), &Message{Dest: self, ID: 9}))
	require.Equal(t, uint32(9), recv(t, b, xb).ID)
}

func TestMovedReceiveRightTakesItsQueue(t *testing.T) {
	_, a, b := twoTasks(t)
	p, _ := a.AllocatePort()
	self := giveSend(t, a, p, a)
	require.NoError(t, a.Send(ctxT(t), &Message{Dest: self, ID: 1}))
	bin, _ := b.AllocatePort()
	tob := giveSend(t, b, bin, a)
	require.NoError(t, a.Send(ctxT(t), &Message{Dest: tob, Rights: []PortRight{{Name: p, Disp: MoveReceive}}}))
	got := recv(t, b, bin).Rights[0].Name
	require.Equal(t, uint32(1), recv(t, b, got).ID, "the queued message moved with the receive right")
	require.Equal(t, RightSend, mustType(t, a, self), "a keeps its send right")
}

func mustType(t *testing.T, task *Task, name Name) RightType {
	t.Helper()
	rt, err := task.Type(name)
	require.NoError(t, err)
	return rt
}

func TestOutOfLineRegionsAreNotCopied(t *testing.T) {
	_, a, b := twoTasks(t)
	p, _ := b.AllocatePort()
	to := giveSend(t, b, p, a)
	region := make([]byte, 1<<20)
	region[0] = 'x'
	require.NoError(t, a.Send(ctxT(t), &Message{Dest: to, OOL: [][]byte{region}}))
	m := recv(t, b, p)
	require.Same(t, &region[0], &m.OOL[0][0], "the region was handed over, not copied")
}

func TestPortSetReceivesFromAnyMember(t *testing.T) {
	_, a, b := twoTasks(t)
	set, err := b.AllocatePortSet()
	require.NoError(t, err)
	p1, _ := b.AllocatePort()
	p2, _ := b.AllocatePort()
	require.NoError(t, b.MoveMember(p1, set))
	require.NoError(t, b.MoveMember(p2, set))
	require.True(t, status(t, b, p1).InSet)
	to1, to2 := giveSend(t, b, p1, a), giveSend(t, b, p2, a)

	got := make(chan *Message, 1)
	go func() { m, _ := b.Receive(context.Background(), set); got <- m }()
	require.NoError(t, a.Send(ctxT(t), &Message{Dest: to2, ID: 2}))
	m := <-got
	require.Equal(t, p2, m.Dest, "the message says which member it came on")
	require.NoError(t, a.Send(ctxT(t), &Message{Dest: to1, ID: 1}))
	require.Equal(t, uint32(1), recv(t, b, set).ID)

	require.NoError(t, b.MoveMember(p1, NameNull))
	require.False(t, status(t, b, p1).InSet)
	require.ErrorIs(t, b.MoveMember(999, set), ErrInvalidName)
	require.ErrorIs(t, b.MoveMember(p1, p2), ErrInvalidRight)
	require.NoError(t, b.Deallocate(set))
	require.False(t, status(t, b, p2).InSet)
}

func TestConcurrentSendersLoseNothing(t *testing.T) {
	n := newTestNode(t, "n")
	rcv := newTask(t, n, "r")
	p, _ := rcv.AllocatePort()
	require.NoError(t, rcv.SetQueueLimit(p, 4))
	const senders, each = 4, 200
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		snd := newTask(t, n, fmt.Sprint("s", s))
		to := giveSend(t, rcv, p, snd)
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := snd.Send(context.Background(), &Message{Dest: to, ID: uint32(s*each + i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}(s)
	}
	last := map[int]int{}
	for i := 0; i < senders*each; i++ {
		m := recv(t, rcv, p)
		s, k := int(m.ID)/each, int(m.ID)%each
		if prev, ok := last[s]; ok {
			require.Greater(t, k, prev, "FIFO per sender")
		}
		last[s] = k
	}
	wg.Wait()
	_, err := rcv.TryReceive(p)
	require.True(t, errors.Is(err, ErrTimedOut), "nothing duplicated")
}

func TestNewMessageAndFreeRecycle(t *testing.T) {
	_, a, b := twoTasks(t)
	p, _ := b.AllocatePort()
	to := giveSend(t, b, p, a)
	m := NewMessage()
	require.Equal(t, Message{}, *m)
	m.Dest, m.ID, m.Body = to, 3, []byte("x")
	require.NoError(t, a.Send(ctxT(t), m))
	got := recv(t, b, p)
	require.Equal(t, uint32(3), got.ID)
	got.Free()
	require.Equal(t, Message{}, *got, "a freed message is cleared")
	var nilMsg *Message
	nilMsg.Free() // no panic
}
