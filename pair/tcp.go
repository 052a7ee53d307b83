package pair

import (
	"context"

	"github.com/ftm-in-go/ftm/kernel/link"
)

// TCPListener adapts an authenticated link.Listener to a pair Listener.
func TCPListener(l *link.Listener) Listener { return tcpListener{l} }

type tcpListener struct{ l *link.Listener }

func (t tcpListener) Accept(ctx context.Context) (link.Link, error) {
	c, err := t.l.Accept(ctx)
	if err != nil {
		return nil, err // a nil *TCP must not become a non-nil link.Link
	}
	return c, nil
}

func (t tcpListener) Close() error { return t.l.Close() }

// TCPDialer dials the partner over authenticated TCP with cfg.
func TCPDialer(cfg link.Config) Dialer {
	return func(ctx context.Context, addr string) (link.Link, error) {
		c, err := link.Dial(ctx, addr, cfg)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}
