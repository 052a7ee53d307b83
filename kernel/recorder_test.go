package kernel

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// logRecorder logs the bodies it records; refuse makes the next Record
// fail with errRefused, panicNext makes it panic.
type logRecorder struct {
	mu        sync.Mutex
	log       []string
	refuse    bool
	panicNext bool
}

var errRefused = errors.New("refused")

func (r *logRecorder) Record(_ *Task, m *Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.panicNext {
		r.panicNext = false
		panic("recorder crashed")
	}
	if r.refuse {
		r.refuse = false
		return errRefused
	}
	r.log = append(r.log, string(m.Body))
	return nil
}

func (r *logRecorder) logged() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

func sendBody(t *testing.T, from *Task, to Name, body string) {
	t.Helper()
	require.NoError(t, from.Send(ctxT(t), &Message{Dest: to, Body: []byte(body)}))
}

// A message reaches its receiver only once recorded, and the log is in
// receive order. Reference: publishing.txt §3.1.
func TestRecorderLogsBeforeDelivery(t *testing.T) {
	_, a, b := twoTasks(t)
	rcv, _ := b.AllocatePort()
	to := giveSend(t, b, rcv, a)
	rec := &logRecorder{}
	b.SetRecorder(rec)
	for _, s := range []string{"one", "two", "three"} {
		sendBody(t, a, to, s)
	}
	for i, want := range []string{"one", "two", "three"} {
		m, err := b.Receive(ctxT(t), rcv)
		require.NoError(t, err)
		require.Equal(t, want, string(m.Body))
		require.Len(t, rec.logged(), i+1, "recorded before it was delivered")
	}
}

// A refused message is held, not lost and not delivered: the next receive
// offers it again, before messages queued after it.
func TestRecorderRefusalHoldsMessage(t *testing.T) {
	_, a, b := twoTasks(t)
	rcv, _ := b.AllocatePort()
	to := giveSend(t, b, rcv, a)
	rec := &logRecorder{refuse: true}
	b.SetRecorder(rec)
	sendBody(t, a, to, "first")
	sendBody(t, a, to, "second")
	_, err := b.TryReceive(rcv)
	require.ErrorIs(t, err, ErrNotRecorded)
	require.Empty(t, rec.logged())
	m, err := b.Receive(ctxT(t), rcv)
	require.NoError(t, err)
	require.Equal(t, "first", string(m.Body))
	m, err = b.Receive(ctxT(t), rcv)
	require.NoError(t, err)
	require.Equal(t, "second", string(m.Body))
	require.Equal(t, []string{"first", "second"}, rec.logged())
}

// A receiving goroutine that dies in Record (the task crashed while its
// message was being recorded) leaves the message held for the next
// incarnation's receive.
func TestRecorderPanicHoldsMessage(t *testing.T) {
	_, a, b := twoTasks(t)
	rcv, _ := b.AllocatePort()
	to := giveSend(t, b, rcv, a)
	rec := &logRecorder{panicNext: true}
	b.SetRecorder(rec)
	sendBody(t, a, to, "x")
	require.Panics(t, func() { _, _ = b.Receive(context.Background(), rcv) })
	b.SetRecorder(rec) // a new incarnation's recorder keeps the held message
	m, err := b.TryReceive(rcv)
	require.NoError(t, err)
	require.Equal(t, "x", string(m.Body))
	require.Equal(t, []string{"x"}, rec.logged())
}

// A message from another node (netmsg) is recorded at the same point.
func TestRecorderLogsRemoteMessages(t *testing.T) {
	a, b, _ := linkedNodes(t, nil)
	server, svc := registerEcho(t, a)
	client, to := lookupEcho(t, b, "a")
	rec := &logRecorder{}
	server.SetRecorder(rec)
	sendBody(t, client, to, "remote")
	m, err := server.Receive(ctxT(t), svc)
	require.NoError(t, err)
	require.Equal(t, "remote", string(m.Body))
	require.Equal(t, []string{"remote"}, rec.logged())
}

// A published sender's numbers reach the receiver unchanged, across a
// link too (publishing.txt §3.2: per-sender sequence numbers).
func TestSenderNumbersCrossNodes(t *testing.T) {
	a, b, _ := linkedNodes(t, nil)
	server, svc := registerEcho(t, a)
	client, to := lookupEcho(t, b, "a")
	require.NoError(t, client.Send(ctxT(t), &Message{Dest: to, SenderID: 5, SenderSeq: 9}))
	m, err := server.Receive(ctxT(t), svc)
	require.NoError(t, err)
	require.Equal(t, [2]uint64{5, 9}, [2]uint64{m.SenderID, m.SenderSeq})
}
