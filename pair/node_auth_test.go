package pair

import (
	"context"
	"fmt"
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
		return nil, fmt.Errorf("%w: wrong secret", link.ErrAuth)
	}
	b, err := New(Config{Name: "alpha", PartnerName: "beta", PartnerAddr: "mem", Dial: refuse, Redial: time.Millisecond})
	require.NoError(t, err)
	err = b.Run(context.Background())
	require.ErrorIs(t, err, link.ErrAuth)
}
