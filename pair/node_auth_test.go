package pair

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/kernel/link"
)

// A partner killed during the link handshake makes the dial fail with
// ErrAuth (a reset while reading its hello); the dialer must retry, not
// stop. Only repeated refusals (a wrong secret) end Run.
func TestDialerRetriesAfterOneAuthFailure(t *testing.T) {
	net := newMemNet()
	var calls atomic.Int32
	dial := func(ctx context.Context, addr string) (link.Link, error) {
		if calls.Add(1) == 1 {
			return nil, fmt.Errorf("%w: read hello: connection reset by peer", link.ErrAuth)
		}
		return net.dial(ctx, addr)
	}
	ev := &events{ch: make(chan string, 8)}
	a, err := New(Config{Name: "alpha", PartnerName: "beta", PartnerAddr: "mem", Dial: dial, Redial: time.Millisecond,
		Hooks: ev.hooks(), Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	wait(t, ev.ch, "joined")
	cancel()
	require.NoError(t, <-done)
	require.GreaterOrEqual(t, calls.Load(), int32(2))

	refuse := func(context.Context, string) (link.Link, error) {
		return nil, fmt.Errorf("%w: wrong secret", link.ErrRejected)
	}
	b, err := New(Config{Name: "alpha", PartnerName: "beta", PartnerAddr: "mem", Dial: refuse, Redial: time.Millisecond})
	require.NoError(t, err)
	err = b.Run(context.Background())
	require.ErrorIs(t, err, link.ErrAuth)
}

// A listener busy with connections that never answer makes the dial time
// out, again and again; the dialer backs off but never gives up on
// timeouts, and joins once the partner answers.
func TestDialerNeverGivesUpOnTimeouts(t *testing.T) {
	net := newMemNet()
	var calls atomic.Int32
	dial := func(ctx context.Context, addr string) (link.Link, error) {
		if calls.Add(1) <= 3*maxRefusals {
			return nil, fmt.Errorf("%w: read hello: %w", link.ErrAuth, os.ErrDeadlineExceeded)
		}
		return net.dial(ctx, addr)
	}
	ev := &events{ch: make(chan string, 8)}
	a, err := New(Config{Name: "alpha", PartnerName: "beta", PartnerAddr: "mem", Dial: dial,
		Redial: time.Millisecond, RedialMax: 4 * time.Millisecond, Hooks: ev.hooks(), Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	wait(t, ev.ch, "joined")
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, int32(3*maxRefusals+1), calls.Load())
}

// Pauses between dials double from Redial up to RedialMax, jittered within
// the upper half of each step.
func TestRedialPauseBacksOffWithJitter(t *testing.T) {
	n, err := New(Config{Name: "alpha", PartnerName: "beta", PartnerAddr: "x", Dial: func(context.Context, string) (link.Link, error) { return nil, nil },
		Redial: 10 * time.Millisecond, RedialMax: 80 * time.Millisecond})
	require.NoError(t, err)
	for attempt, step := range []time.Duration{10, 20, 40, 80, 80, 80} {
		step *= time.Millisecond
		for range 20 {
			p := n.redialPause(attempt + 1)
			require.GreaterOrEqual(t, p, step/2, "attempt %d", attempt+1)
			require.LessOrEqual(t, p, step, "attempt %d", attempt+1)
		}
	}
	require.LessOrEqual(t, n.redialPause(1000), 80*time.Millisecond, "no overflow after many failures")
}
