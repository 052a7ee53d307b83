package link

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Config configures a TCP link end.
type Config struct {
	// Name is this node's name, sent to and authenticated by the peer.
	Name string
	// Secret is the key both nodes share; the handshake proves each side
	// knows it without sending it.
	Secret []byte
	// MaxFrame bounds one frame (default DefaultMaxFrame).
	MaxFrame int
	// HandshakeTimeout bounds the authentication exchange (default 5s).
	HandshakeTimeout time.Duration
	// RecvBuffer is how many received frames may wait for Recv (default 256).
	RecvBuffer int
	// Logger receives refused peers and link failures (default: none).
	Logger *zap.Logger
}

func (c Config) withDefaults() Config {
	if c.MaxFrame <= 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 5 * time.Second
	}
	if c.RecvBuffer <= 0 {
		c.RecvBuffer = 256
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

func (c Config) check() error {
	if c.Name == "" {
		return errors.New("link: config needs this node's Name")
	}
	if len(c.Secret) < 16 {
		return errors.New("link: config needs a Secret of at least 16 bytes")
	}
	return nil
}

// TCP is a Link over one authenticated TCP connection.
type TCP struct {
	conn net.Conn
	peer string
	max  int
	log  *zap.Logger
	in   chan Frame // filled by the reader goroutine

	sendMu sync.Mutex // guards w and buf
	w      *bufio.Writer
	buf    []byte

	once sync.Once     // closes done
	done chan struct{} // closed when the link ends
	mu   sync.Mutex    // guards err
	err  error
}

var _ Link = (*TCP)(nil)

// Dial connects to a listening node at addr and authenticates both ways.
func Dial(ctx context.Context, addr string, cfg Config) (*TCP, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("link: dial %s: %w", addr, err)
	}
	peer, err := handshake(ctx, conn, cfg, roleDialer)
	if err != nil {
		conn.Close()
		cfg.Logger.Warn("link refused", zap.String("addr", addr), zap.Error(err))
		return nil, err
	}
	return newTCP(conn, peer, cfg), nil
}

// Listener accepts authenticated links.
type Listener struct {
	l   net.Listener
	cfg Config
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
	return &Listener{l: l, cfg: cfg.withDefaults()}, nil
}

// Addr is the address the listener is bound to.
func (l *Listener) Addr() string { return l.l.Addr().String() }

// Close stops accepting; links already accepted stay up.
func (l *Listener) Close() error { return l.l.Close() }

// Accept returns the next peer that authenticated. Peers that fail the
// handshake are logged and closed, and Accept waits for the next one.
func (l *Listener) Accept(ctx context.Context) (*TCP, error) {
	stop := context.AfterFunc(ctx, func() { _ = l.l.(*net.TCPListener).SetDeadline(time.Now()) })
	defer stop()
	for {
		conn, err := l.l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				_ = l.l.(*net.TCPListener).SetDeadline(time.Time{})
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("link: accept: %w", err)
		}
		peer, err := handshake(ctx, conn, l.cfg, roleListener)
		if err != nil {
			conn.Close()
			l.cfg.Logger.Warn("link refused", zap.String("remote", conn.RemoteAddr().String()), zap.Error(err))
			continue
		}
		return newTCP(conn, peer, l.cfg), nil
	}
}

func newTCP(conn net.Conn, peer string, cfg Config) *TCP {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	t := &TCP{
		conn: conn, peer: peer, max: cfg.MaxFrame, log: cfg.Logger.With(zap.String("peer", peer)),
		in: make(chan Frame, cfg.RecvBuffer), w: bufio.NewWriterSize(conn, 64<<10), done: make(chan struct{}),
	}
	go t.readLoop(bufio.NewReaderSize(conn, 64<<10))
	return t
}

// readLoop decodes frames until the connection fails.
func (t *TCP) readLoop(r *bufio.Reader) {
	for {
		f, err := ReadFrame(r, t.max)
		if err != nil {
			t.fail(err)
			return
		}
		select {
		case t.in <- f:
		case <-t.done:
			return
		}
	}
}

// Send writes f and flushes it to the socket.
func (t *TCP) Send(ctx context.Context, f Frame) error {
	if err := t.Err(); err != nil {
		return err
	}
	if len(f.Body)+frameOverhead > t.max {
		return fmt.Errorf("%w: body of %d bytes, limit %d", ErrFrameTooLarge, len(f.Body), t.max)
	}
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		_ = t.conn.SetWriteDeadline(dl)
		defer t.conn.SetWriteDeadline(time.Time{})
	}
	t.buf = AppendFrame(t.buf[:0], &f)
	_, err := t.w.Write(t.buf)
	if err == nil {
		err = t.w.Flush()
	}
	if cap(t.buf) > 1<<20 {
		t.buf = nil // do not pin a large frame's buffer
	}
	if err != nil {
		t.fail(err)
		return t.Err()
	}
	return nil
}

// Recv returns the next frame from the peer.
func (t *TCP) Recv(ctx context.Context) (Frame, error) {
	select {
	case f := <-t.in:
		return f, nil
	default:
	}
	select {
	case f := <-t.in:
		return f, nil
	case <-t.done:
		select { // frames that arrived before the failure are still delivered
		case f := <-t.in:
			return f, nil
		default:
			return Frame{}, t.Err()
		}
	case <-ctx.Done():
		return Frame{}, ctx.Err()
	}
}

// Close ends the link; the peer's next Recv fails.
func (t *TCP) Close() error {
	t.fail(ErrClosed)
	return nil
}

// Done is closed when the link has ended.
func (t *TCP) Done() <-chan struct{} { return t.done }

// Peer is the authenticated name of the other node.
func (t *TCP) Peer() string { return t.peer }

// Err says why the link ended, nil while it is up.
func (t *TCP) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// fail ends the link with cause (the first cause wins).
func (t *TCP) fail(cause error) {
	t.once.Do(func() {
		t.mu.Lock()
		if errors.Is(cause, ErrClosed) {
			t.err = ErrClosed
		} else {
			t.err = fmt.Errorf("%w: %w", ErrClosed, cause)
			t.log.Info("link ended", zap.Error(cause))
		}
		t.mu.Unlock()
		close(t.done)
		_ = t.conn.Close()
	})
}
