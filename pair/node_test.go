package pair

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/kernel/heartbeat"
	"github.com/ftm-in-go/ftm/kernel/link"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memNet hands out in-memory links: each Dial gives the dialer one end and
// queues the other for the listener.
type memNet struct {
	mu      sync.Mutex
	pending chan link.Link
	links   []*link.MemLink
	refuse  bool
}

func newMemNet() *memNet { return &memNet{pending: make(chan link.Link, 4)} }

func (m *memNet) dial(ctx context.Context, addr string) (link.Link, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refuse {
		return nil, errors.New("connection refused")
	}
	a, b := link.NewMemPair("alpha", "beta", link.MemConfig{})
	m.links = append(m.links, a)
	m.pending <- b
	return a, nil
}

// dials counts the links dialled so far.
func (m *memNet) dials() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.links)
}

func (m *memNet) cutAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.links {
		l.Cut()
	}
}

func (m *memNet) Accept(ctx context.Context) (link.Link, error) {
	select {
	case l := <-m.pending:
		return l, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (m *memNet) Close() error { return nil }

type events struct {
	mu     sync.Mutex
	joined []uint64
	lost   []*heartbeat.Death
	ch     chan string
}

func (e *events) hooks() Hooks {
	return Hooks{
		PartnerJoined: func(_ context.Context, _ *link.Mux, epoch uint64) {
			e.mu.Lock()
			e.joined = append(e.joined, epoch)
			e.mu.Unlock()
			e.ch <- "joined"
		},
		PartnerLost: func(_ context.Context, d *heartbeat.Death, epoch uint64) {
			e.mu.Lock()
			e.lost = append(e.lost, d)
			e.mu.Unlock()
			e.ch <- "lost"
		},
	}
}

func wait(t *testing.T, ch chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		require.Equal(t, want, got)
	case <-time.After(10 * time.Second):
		t.Fatalf("no %q event", want)
	}
}

// Reference: §2.2 — a stable pair notices a dead partner and relinks with
// a restarted one; the epoch grows with every loss.
func TestPairLinksDetectsLossAndRelinks(t *testing.T) {
	net := newMemNet()
	ea, eb := &events{ch: make(chan string, 8)}, &events{ch: make(chan string, 8)}
	hb := heartbeat.Config{Period: 5 * time.Millisecond}
	a, err := New(Config{Name: "alpha", PartnerName: "beta", PartnerAddr: "mem", Dial: net.dial, Heartbeat: hb, Hooks: ea.hooks(), Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	b, err := New(Config{Name: "beta", PartnerName: "alpha", Listener: net, Heartbeat: hb, Hooks: eb.hooks(), Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, n := range []*Node{a, b} {
		wg.Add(1)
		go func(n *Node) { defer wg.Done(); _ = n.Run(ctx) }(n)
	}
	wait(t, ea.ch, "joined")
	wait(t, eb.ch, "joined")
	require.True(t, a.Status().Linked)
	require.True(t, a.Status().Dialer)
	require.False(t, b.Status().Dialer)

	net.cutAll()
	wait(t, ea.ch, "lost")
	wait(t, eb.ch, "lost")
	require.ErrorIs(t, ea.lost[0].Cause, heartbeat.ErrLinkLost)
	wait(t, ea.ch, "joined") // alpha dials again
	wait(t, eb.ch, "joined")
	st := a.Status()
	require.Equal(t, uint64(1), st.Epoch)
	require.Equal(t, 1, st.LostCount)
	require.Equal(t, 2, st.JoinsCount)
	cancel()
	wg.Wait()
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{},
		{Name: "a", PartnerName: "a"},
		{Name: "a", PartnerName: "b"}, // dials, but no dialer
		{Name: "b", PartnerName: "a", PartnerAddr: "x"}, // accepts, but no listener
	} {
		_, err := New(c)
		require.ErrorIs(t, err, ErrBadConfig, "%+v", c)
	}
}
