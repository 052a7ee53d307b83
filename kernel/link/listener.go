package link

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
)

// DefaultMaxPending is how many connections a Listener authenticates at
// once unless Config.MaxPending says otherwise.
const DefaultMaxPending = 64

// Listener accepts authenticated links.
//
// Accept authenticates every connection that arrives while it waits, each
// in its own goroutine with its own HandshakeTimeout, so connections that
// never answer (or answer slowly) delay a genuine peer by nothing: the
// first connection to authenticate is returned. At most Config.MaxPending
// handshakes run at once; a connection beyond them is closed at once.
// When Accept returns, the handshakes still running are cut and their
// connections closed, and all its goroutines have ended.
type Listener struct {
	l   *net.TCPListener
	cfg Config

	turn chan struct{} // capacity 1: held by the one Accept using l
}

// Listen listens for links on addr (use 127.0.0.1:0 for any free port).
func Listen(addr string, cfg Config) (*Listener, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("link: listen %s: %w", addr, err)
	}
	return &Listener{l: l.(*net.TCPListener), cfg: cfg.withDefaults(), turn: make(chan struct{}, 1)}, nil
}

// Addr is the address the listener is bound to.
func (l *Listener) Addr() string { return l.l.Addr().String() }

// Close stops accepting; links already accepted stay up.
func (l *Listener) Close() error { return l.l.Close() }

// Accept returns the next peer that authenticated. Peers that fail the
// handshake are logged and closed, and Accept waits for the next one.
// Concurrent Accepts take turns.
func (l *Listener) Accept(ctx context.Context) (*TCP, error) {
	select {
	case l.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-l.turn }()

	actx, cancel := context.WithCancel(ctx)
	r := &acceptRound{l: l, ctx: actx, won: make(chan *TCP), slots: make(chan struct{}, l.cfg.MaxPending)}
	interrupted := make(chan struct{})
	stop := context.AfterFunc(actx, func() { _ = l.l.SetDeadline(time.Unix(1, 0)); close(interrupted) })
	loopErr := make(chan error, 1)
	r.wg.Add(1)
	go func() { defer r.wg.Done(); loopErr <- r.acceptLoop() }()

	var t *TCP
	var err error
	select {
	case t = <-r.won:
	case err = <-loopErr:
	}
	cancel()
	r.wg.Wait()
	if !stop() { // the interruption ran: clear its deadline for the next Accept
		<-interrupted
		_ = l.l.SetDeadline(time.Time{})
	}
	if t != nil {
		return t, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, err
}

// acceptRound is one Accept call: the loop accepting connections and the
// handshakes it started, all ended by ctx.
type acceptRound struct {
	l     *Listener
	ctx   context.Context
	won   chan *TCP     // the first authenticated link, handed to Accept
	slots chan struct{} // one token per running handshake
	wg    sync.WaitGroup
}

// acceptLoop accepts connections until the listener fails or the round
// ends, starting a handshake for each one there is a slot for.
func (r *acceptRound) acceptLoop() error {
	for {
		conn, err := r.l.l.Accept()
		if err != nil {
			return fmt.Errorf("link: accept: %w", err)
		}
		select {
		case r.slots <- struct{}{}:
		default:
			_ = conn.Close()
			r.l.cfg.Logger.Warn("link refused: too many pending handshakes",
				zap.String("remote", conn.RemoteAddr().String()), zap.Int("pending", cap(r.slots)))
			continue
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() { <-r.slots }()
			r.authenticate(conn)
		}()
	}
}

// authenticate runs the listener's side of the handshake on conn and offers
// the link to Accept; a connection that fails, or comes second, is closed.
func (r *acceptRound) authenticate(conn net.Conn) {
	cfg := r.l.cfg
	c, peer, err := handshake(r.ctx, conn, cfg, roleListener)
	if err != nil {
		_ = conn.Close()
		switch {
		case r.ctx.Err() != nil:
		case errors.Is(err, ErrRejected):
			cfg.Logger.Warn("link refused", zap.String("remote", conn.RemoteAddr().String()), zap.Error(err))
		default: // a peer restarting, or a connection that came second
			cfg.Logger.Info("link handshake not completed", zap.String("remote", conn.RemoteAddr().String()), zap.Error(err))
		}
		return
	}
	t := newTCP(c, peer, cfg)
	select {
	case r.won <- t:
	case <-r.ctx.Done():
		_ = c.Close() // Accept already has a link (or gave up)
	}
}
