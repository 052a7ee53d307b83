package kernel

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// spRecorder records the safe-point calls; Unblocked waits on hold.
type spRecorder struct {
	mu      sync.Mutex
	calls   []string
	blocked chan struct{} // receives one value per Blocked
	hold    chan struct{} // Unblocked waits for it to be closed
}

func (r *spRecorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *spRecorder) Poll() { r.add("poll") }
func (r *spRecorder) Blocked() {
	r.add("blocked")
	r.blocked <- struct{}{}
}

func (r *spRecorder) Unblocked() {
	<-r.hold
	r.add("unblocked")
}

func (r *spRecorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// Every Send and Receive entry is a safe point; a Receive that waits
// reports Blocked before waiting and does not return to the task before
// Unblocked lets it; SetSafePoint(nil) removes the hook.
func TestSafePointHookAtKernelCalls(t *testing.T) {
	_, a, b := twoTasks(t)
	p, err := a.AllocatePort()
	require.NoError(t, err)
	to := giveSend(t, a, p, b)
	r := &spRecorder{blocked: make(chan struct{}, 4), hold: make(chan struct{})}
	a.SetSafePoint(r)
	b.SetSafePoint(r)

	require.NoError(t, b.Send(ctxT(t), &Message{Dest: to}))
	require.NoError(t, b.TrySend(&Message{Dest: to}))
	_, err = a.TryReceive(p)
	require.NoError(t, err)
	_ = recv(t, a, p) // a message waits: no blocking
	require.Equal(t, []string{"poll", "poll", "poll", "poll"}, r.got())

	for _, ctx := range []context.Context{context.Background(), ctxT(t)} { // both wait paths
		r.calls, r.hold = nil, make(chan struct{})
		got := make(chan error, 1)
		go func() {
			_, err := a.Receive(ctx, p)
			got <- err
		}()
		<-r.blocked
		require.NoError(t, b.Send(ctxT(t), &Message{Dest: to}))
		select {
		case err := <-got:
			t.Fatalf("Receive returned (%v) while its safe point held it", err)
		default:
		}
		close(r.hold)
		require.NoError(t, <-got)
		require.Equal(t, []string{"poll", "blocked", "poll", "unblocked"}, r.got()) // the second poll is b's Send
	}

	a.SetSafePoint(nil)
	b.SetSafePoint(nil)
	r.calls = nil
	require.NoError(t, b.Send(ctxT(t), &Message{Dest: to}))
	_ = recv(t, a, p)
	require.Empty(t, r.got())
}

// A Send waiting for room in a full queue is a safe point too.
func TestSafePointHookWhileSendWaits(t *testing.T) {
	_, a, b := twoTasks(t)
	p, err := a.AllocatePort()
	require.NoError(t, err)
	to := giveSend(t, a, p, b)
	require.NoError(t, a.SetQueueLimit(p, 1))
	require.NoError(t, b.TrySend(&Message{Dest: to}))
	r := &spRecorder{blocked: make(chan struct{}, 4), hold: make(chan struct{})}
	b.SetSafePoint(r)
	got := make(chan error, 1)
	go func() { got <- b.Send(ctxT(t), &Message{Dest: to}) }()
	<-r.blocked
	_ = recv(t, a, p) // room again
	close(r.hold)
	require.NoError(t, <-got)
	require.Equal(t, []string{"poll", "blocked", "unblocked"}, r.got())
}
