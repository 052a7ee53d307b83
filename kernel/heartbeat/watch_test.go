package heartbeat

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/kernel/clock"
	"github.com/ftm-in-go/ftm/kernel/link"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pipeLink is one end of a minimal in-test link: frames sent on one end are
// received on the other; Close fails both ends.
type pipeLink struct {
	peer string
	in   chan link.Frame
	out  chan link.Frame
	once *sync.Once
	done chan struct{}
}

func newPipe() (*pipeLink, *pipeLink) {
	ab, ba := make(chan link.Frame, 64), make(chan link.Frame, 64)
	once, done := &sync.Once{}, make(chan struct{})
	return &pipeLink{"b", ba, ab, once, done}, &pipeLink{"a", ab, ba, once, done}
}

func (p *pipeLink) Send(ctx context.Context, f link.Frame) error {
	select {
	case p.out <- f:
		return nil
	case <-p.done:
		return link.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pipeLink) Recv(ctx context.Context) (link.Frame, error) {
	select {
	case f := <-p.in:
		return f, nil
	case <-p.done:
		return link.Frame{}, link.ErrClosed
	case <-ctx.Done():
		return link.Frame{}, ctx.Err()
	}
}

func (p *pipeLink) Close() error          { p.once.Do(func() { close(p.done) }); return nil }
func (p *pipeLink) Done() <-chan struct{} { return p.done }
func (p *pipeLink) Peer() string          { return p.peer }
func (p *pipeLink) Err() error {
	select {
	case <-p.done:
		return link.ErrClosed
	default:
		return nil
	}
}

var _ link.Link = (*pipeLink)(nil)

// advanceWhenWaiting moves the manual clock one step at a time, each time the
// watcher has armed its timer, until stop is closed.
func advanceWhenWaiting(clk *clock.Manual, step time.Duration, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		if clk.Pending() > 0 {
			clk.Advance(step)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// Reference: §2.2 — the survivor of a stable pair detects its partner's death.
func TestWatchDeclaresSilentPartnerDead(t *testing.T) {
	a, _ := newPipe() // nobody answers on the other end
	clk := clock.NewManual(t0)
	stop := make(chan struct{})
	defer close(stop)
	go advanceWhenWaiting(clk, 10*time.Millisecond, stop)
	d := Watcher{Clock: clk, Config: Config{Period: 10 * time.Millisecond, Timeout: 50 * time.Millisecond}, Log: zaptest.NewLogger(t)}.Watch(context.Background(), a)
	require.NotNil(t, d)
	require.ErrorIs(t, d.Cause, ErrSilent)
	require.Equal(t, "b", d.Peer)
	require.GreaterOrEqual(t, d.Silence, 50*time.Millisecond)
}

func TestWatchKeepsLivePartnerAndStopsOnContext(t *testing.T) {
	a, b := newPipe()
	clk := clock.NewManual(t0)
	// The timeout leaves ten periods of slack: a receiver marks a heartbeat
	// heard a moment after the test saw it taken off the link, and on a
	// loaded machine that moment may span an Advance or two.
	cfg := Config{Period: 10 * time.Millisecond, Timeout: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	deaths := make(chan *Death, 2)
	go func() { deaths <- Watcher{Clock: clk, Config: cfg}.Watch(ctx, a) }()
	go func() { deaths <- Watcher{Clock: clk, Config: cfg}.Watch(ctx, b) }()
	// Both sides beat each other; a full second of manual time passes.
	for i := 0; i < 100; i++ {
		waitArmed(t, clk, 2, deaths)
		clk.Advance(10 * time.Millisecond)
		waitDrained(t, deaths, a, b)
	}
	cancel()
	require.Nil(t, <-deaths)
	require.Nil(t, <-deaths)
}

// waitArmed waits until n watchers have armed their timers, failing the test
// (instead of hanging) when a watcher has returned.
func waitArmed(t *testing.T, clk *clock.Manual, n int, deaths chan *Death) {
	t.Helper()
	for clk.Pending() < n {
		select {
		case d := <-deaths:
			t.Fatalf("a watcher returned early: %+v", d)
		default:
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// waitDrained waits until both receivers have taken every heartbeat in flight,
// so the manual clock does not outrun delivery, failing the test (instead
// of hanging) when a watcher has returned and stopped receiving.
func waitDrained(t *testing.T, deaths chan *Death, ps ...*pipeLink) {
	t.Helper()
	for _, p := range ps {
		for len(p.in) > 0 {
			select {
			case d := <-deaths:
				t.Fatalf("a watcher returned early: %+v", d)
			default:
				time.Sleep(20 * time.Microsecond)
			}
		}
	}
}

func TestWatchReportsLostLinkAtOnce(t *testing.T) {
	a, b := newPipe()
	clk := clock.NewManual(t0)
	require.NoError(t, b.Close())
	d := Watcher{Clock: clk, Config: Config{Period: time.Hour}}.Watch(context.Background(), a)
	require.NotNil(t, d)
	require.True(t, errors.Is(d.Cause, ErrLinkLost), "got %v", d.Cause)
	require.Zero(t, d.Silence, "no time needed to pass")
}
