package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/servers/pair"
)

// tcpListener adapts link.Listener to pair.Listener; its links obey the
// node's fault switch, and while a partition is on the links it accepts
// are closed at once (the partner cannot get through).
type tcpListener struct {
	*link.Listener
	faults *link.Faults
	log    *zap.Logger
}

func (l tcpListener) Accept(ctx context.Context) (link.Link, error) {
	for {
		t, err := l.Listener.Accept(ctx)
		if err != nil {
			return nil, err
		}
		if !l.faults.Partitioned() {
			return l.faults.Wrap(t), nil
		}
		l.log.Info("link from the partner refused: partitioned (fault injection)", zap.String("peer", t.Peer()))
		_ = t.Close()
	}
}

func listenLink(addr, name string, secret []byte, faults *link.Faults, log *zap.Logger) (pair.Listener, error) {
	l, err := link.Listen(addr, link.Config{Name: name, Secret: secret, Logger: log})
	if err != nil {
		return nil, err
	}
	return tcpListener{Listener: l, faults: faults, log: log}, nil
}

func dialLink(name string, secret []byte, faults *link.Faults, log *zap.Logger) pair.Dialer {
	return func(ctx context.Context, addr string) (link.Link, error) {
		if faults.Partitioned() {
			return nil, link.ErrPartitioned
		}
		t, err := link.Dial(ctx, addr, link.Config{Name: name, Secret: secret, Logger: log})
		if err != nil {
			return nil, err
		}
		return faults.Wrap(t), nil
	}
}
