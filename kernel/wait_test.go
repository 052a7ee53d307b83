package kernel

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// A message handed to a blocked receiver races with the destruction of its
// port: either the receiver gets the message, with its rights in its name
// space, or it gets an error and the message's rights are released (the
// rights invariants hold either way, and nothing waits for ever).
func TestHandOverRacesWithPortDestruction(t *testing.T) {
	n := newTestNode(t, "n")
	owner, sender := newTask(t, n, "owner"), newTask(t, n, "sender")
	reply, err := sender.AllocatePort()
	require.NoError(t, err)
	got := 0
	for i := 0; i < 300; i++ {
		p, err := owner.AllocatePort()
		require.NoError(t, err)
		to := giveSend(t, owner, p, sender)
		res := receiveAsync(context.Background(), owner, p)
		waitBlocked(t, n, 1)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			_ = sender.Send(context.Background(), &Message{Dest: to, Reply: reply, ReplyDisp: MakeSendOnce, ID: uint32(i)})
		}()
		go func() {
			defer wg.Done()
			require.NoError(t, owner.Destroy(p))
		}()
		wg.Wait()
		r := waitDone(t, res, "receiver of a port destroyed while a message was handed over")
		if r.err == nil {
			got++
			require.Equal(t, uint32(i), r.m.ID)
			require.Equal(t, RightSendOnce, r.m.ReplyType)
			require.NoError(t, owner.Deallocate(r.m.Reply))
		}
		_ = sender.Deallocate(to) // a dead name by now, or a send right
		require.NoError(t, checkInvariants(n))
	}
	t.Logf("%d of 300 messages handed over before the port died", got)
}

// A receiver whose context ends while a message is handed to it: the
// message is received by that Receive or stays queued for the next one,
// never lost and never received twice.
func TestHandOverRacesWithTheReceiversContext(t *testing.T) {
	n, a, b := twoTasks(t)
	p, err := b.AllocatePort()
	require.NoError(t, err)
	to := giveSend(t, b, p, a)
	handed := 0
	for i := 0; i < 300; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		res := receiveAsync(ctx, b, p)
		waitBlocked(t, n, 1)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, a.Send(context.Background(), &Message{Dest: to, ID: uint32(i)}))
		}()
		cancel()
		wg.Wait()
		r := waitDone(t, res, "receiver whose context ended")
		if r.err == nil {
			handed++
		} else {
			require.ErrorIs(t, r.err, context.Canceled)
			m, err := b.TryReceive(p)
			require.NoError(t, err, "the message was lost")
			r.m = m
		}
		require.Equal(t, uint32(i), r.m.ID)
		_, err := b.TryReceive(p)
		require.ErrorIs(t, err, ErrTimedOut, "a message received twice")
	}
	t.Logf("%d of 300 received by the Receive whose context ended", handed)
}

// Two goroutines of a task blocked on one port, two messages: each gets
// one, in order of waiting, and the sequence numbers follow the order of
// sending.
func TestHandOverToEachWaiterInTurn(t *testing.T) {
	n, a, b := twoTasks(t)
	p, err := b.AllocatePort()
	require.NoError(t, err)
	to := giveSend(t, b, p, a)
	first := receiveAsync(context.Background(), b, p)
	waitBlocked(t, n, 1)
	second := receiveAsync(context.Background(), b, p)
	waitBlocked(t, n, 2)
	require.NoError(t, a.Send(ctxT(t), &Message{Dest: to, ID: 1}))
	require.NoError(t, a.Send(ctxT(t), &Message{Dest: to, ID: 2}))
	r1, r2 := waitDone(t, first, "first waiter"), waitDone(t, second, "second waiter")
	require.NoError(t, r1.err)
	require.NoError(t, r2.err)
	require.Equal(t, uint32(1), r1.m.ID)
	require.Equal(t, uint32(2), r2.m.ID)
	require.Equal(t, r1.m.Seqno+1, r2.m.Seqno)
	require.NoError(t, checkInvariants(n))
}
