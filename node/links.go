package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/kernel/link/linkcert"
	"github.com/ftm-in-go/ftm/pair"
)

// tcpListener adapts link.Listener to pair.Listener; its links obey the
// node's fault switch, and while a partition is on the links it accepts
// are closed at once (the partner cannot get through).
type tcpListener struct {
	*link.Listener
	faults *link.Faults
	log    *zap.Logger
}

// Accept returns the next link from the partner that the fault switch lets through.
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

// listenRetry is how long a restarted node waits for its address to be
// released: the process it replaces (SIGKILLed) may still be exiting.
const listenRetry = 5 * time.Second

// nodeLinks makes this node's links to its partner, both ways: each runs
// over mutual TLS with the node's certificate (or, with plain links, is
// authenticated as name with the pair's secret), must come from the
// partner, and obeys the node's fault switch.
type nodeLinks struct {
	name, partner string
	secret        []byte
	tls           *link.TLS // nil: plain links
	faults        *link.Faults
	log           *zap.Logger
}

func (nl nodeLinks) config() link.Config {
	return link.Config{Name: nl.name, Peer: nl.partner, Secret: nl.secret, TLS: nl.tls, Logger: nl.log}
}

// to returns the links to one peer (a cluster has one per peer).
func (nl nodeLinks) to(peer string) nodeLinks {
	nl.partner = peer
	return nl
}

// forListener returns the links a listener accepts: from the partner in
// a pair; in a cluster (more than one peer) from any node that proves a
// name (its certificate of the cluster's CA, or the secret), which the
// peer demultiplexer then checks is a peer.
func (nl nodeLinks) forListener(peers int) nodeLinks {
	if peers > 1 {
		nl.partner = ""
	}
	return nl
}

// listen listens for the partner on addr.
func (nl nodeLinks) listen(addr string) (pair.Listener, error) {
	var l *link.Listener
	var err error
	for deadline := time.Now().Add(listenRetry); ; time.Sleep(50 * time.Millisecond) {
		l, err = link.Listen(addr, nl.config())
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			break
		}
		nl.log.Info("link address still in use, retrying", zap.String("addr", addr))
	}
	if err != nil {
		return nil, err
	}
	return tcpListener{Listener: l, faults: nl.faults, log: nl.log}, nil
}

// dialer dials the partner. With plain links, a partner that keeps
// cutting the handshake is probed: one that speaks TLS is refused
// (link.ErrRejected, so the pair gives up after a few), as a TLS
// dialer refuses a plain listener.
func (nl nodeLinks) dialer() pair.Dialer {
	cuts, logged := 0, false // the pair dials from one goroutine
	return func(ctx context.Context, addr string) (link.Link, error) {
		if nl.faults.Partitioned() {
			return nil, link.ErrPartitioned
		}
		t, err := link.Dial(ctx, addr, nl.config())
		switch {
		case err == nil:
			cuts = 0
			return nl.faults.Wrap(t), nil
		case nl.tls != nil || !errors.Is(err, link.ErrHandshakeCut):
			cuts = 0
			return nil, err
		}
		if cuts++; cuts < plainProbeAfter || !speaksTLS(ctx, addr) {
			return nil, err
		}
		err = fmt.Errorf("%w: %s at %s: %w", link.ErrRejected, nl.partner, addr, errPartnerSpeaksTLS)
		if !logged {
			nl.log.Error("link refused", zap.String("peer", nl.partner), zap.String("addr", addr), zap.Error(err))
			logged = true
		}
		return nil, err
	}
}

// errPartnerSpeaksTLS is a plain dialer's refusal of a TLS listener.
var errPartnerSpeaksTLS = errors.New("node: the partner's link speaks TLS and this node runs plain links (--plain-links): start every node the same way")

// plainProbeAfter is how many handshakes in a row a plain dialer sees cut
// before it asks whether the partner speaks TLS (a TLS listener hangs up
// on a plain hello; one cut alone is a partner restarting).
const plainProbeAfter = 2

// speaksTLS reports whether addr answers a TLS ClientHello with a TLS
// record (a handshake or an alert): a plain FTM listener's first bytes
// are a frame's length, never a TLS record's type and version.
func speaksTLS(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer conn.Close()
	rec := &firstBytes{Conn: conn}
	// The probe only reads the peer's first record: nothing is trusted.
	_ = tls.Client(rec, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}).HandshakeContext(ctx) //nolint:gosec
	return len(rec.head) >= 2 && (rec.head[0] == 0x16 || rec.head[0] == 0x15) && rec.head[1] == 0x03
}

// firstBytes is a connection that keeps the first bytes it reads.
type firstBytes struct {
	net.Conn
	head []byte
}

func (c *firstBytes) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if len(c.head) < 2 {
		c.head = append(c.head, p[:min(n, 2-len(c.head))]...)
	}
	return n, err
}

// linkTLS is the node's identity on its links, nil with plain links.
func (cfg Config) linkTLS() (*link.TLS, error) {
	if cfg.PlainLinks {
		return nil, nil
	}
	p, def := cfg.LinkCerts, linkcert.NodePaths(cfg.Dir, cfg.Name)
	if p.CA == "" {
		p.CA = def.CA
	}
	if p.Cert == "" {
		p.Cert = def.Cert
	}
	if p.Key == "" {
		p.Key = def.Key
	}
	id, err := linkcert.Load(p)
	if err != nil {
		return nil, fmt.Errorf("link certificates (make them with `ftmctl pair up`, or run with plain links): %w", err)
	}
	return id, nil
}

// listenAddr is where the node's link listens.
func (cfg Config) listenAddr(ns *setup) string {
	if cfg.Listen != "" {
		return cfg.Listen
	}
	return ns.self.Addr
}
