package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/servers/pair"
)

// tcpListener adapts link.Listener to pair.Listener.
type tcpListener struct{ *link.Listener }

func (l tcpListener) Accept(ctx context.Context) (link.Link, error) {
	t, err := l.Listener.Accept(ctx)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func listenLink(addr, name string, secret []byte, log *zap.Logger) (pair.Listener, error) {
	l, err := link.Listen(addr, link.Config{Name: name, Secret: secret, Logger: log})
	if err != nil {
		return nil, err
	}
	return tcpListener{l}, nil
}

func dialLink(name string, secret []byte, log *zap.Logger) pair.Dialer {
	return func(ctx context.Context, addr string) (link.Link, error) {
		t, err := link.Dial(ctx, addr, link.Config{Name: name, Secret: secret, Logger: log})
		if err != nil {
			return nil, err
		}
		return t, nil
	}
}
