package link

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Config configures a TCP link end.
type Config struct {
	// Name is this node's name, sent to and authenticated by the peer.
	Name string
	// Secret is the key both nodes share; without TLS the handshake
	// proves each side knows it without sending it.
	Secret []byte
	// TLS, when set, runs every link over mutually authenticated TLS 1.3
	// with this node's certificate (see TLS); Secret is then not used.
	TLS *TLS
	// Peer is the node expected at the other end. With TLS, a dialer
	// needs it (the listener's certificate must name it) and a listener
	// that has it refuses a certificate naming another node.
	Peer string
	// MaxFrame bounds one frame (default DefaultMaxFrame).
	MaxFrame int
	// HandshakeTimeout bounds the authentication exchange (default 5s).
	HandshakeTimeout time.Duration
	// MaxPending bounds the connections a Listener authenticates at once
	// (default DefaultMaxPending); connections beyond it are closed at once.
	MaxPending int
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
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
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
	if c.TLS != nil {
		return c.TLS.check(c.Name)
	}
	if len(c.Secret) < 16 {
		return errors.New("link: config needs a Secret of at least 16 bytes")
	}
	return nil
}

// checkDial is check for a dialer: over TLS it must know its peer's name.
func (c Config) checkDial() error {
	if c.TLS != nil && c.Peer == "" {
		return errors.New("link: a TLS dialer needs the Peer it expects")
	}
	return c.check()
}

// TCP is a Link over one authenticated TCP connection.
//
// There is no reader goroutine: Recv reads the socket itself, so a frame
// reaches its receiver without a goroutine hand-off. A link therefore
// notices that its peer has gone while a Recv is waiting (the Mux and the
// kernel's proxy always keep one waiting) or when a Send fails.
type TCP struct {
	conn net.Conn
	raw  net.Conn  // the TCP connection under conn (conn itself without TLS)
	tls  *tls.Conn // conn, when the link runs over TLS
	peer string
	max  int
	log  *zap.Logger

	recvTok chan struct{} // capacity 1: held by the one Recv reading conn
	r       *bufio.Reader // owned by the recvTok holder
	partial frameReader   // a frame cut short by a cancelled Recv; owned by the recvTok holder
	bodies  *Bodies       // recycled buffers of large received frames (bodies.go)

	dlMu    sync.Mutex  // guards dlArmed, dlFired and intr
	dlArmed bool        // a Recv may be interrupted by its context
	dlFired bool        // the interruption set a read deadline to clear
	intr    bool        // Interrupt set a read deadline; the next Recv reports it
	intrSet atomic.Bool // intr, read without dlMu on every Recv

	sendMu sync.Mutex  // guards buf, vec and writes to conn
	buf    []byte      // Send's frame, SendVec's frame head
	vec    net.Buffers // SendVec's write vector (cleared after each write)

	once sync.Once     // closes done
	done chan struct{} // closed when the link ends
	mu   sync.Mutex    // guards err
	err  error
}

var _ Link = (*TCP)(nil)

// Dial connects to a listening node at addr and authenticates both ways.
func Dial(ctx context.Context, addr string, cfg Config) (*TCP, error) {
	if err := cfg.checkDial(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	d := net.Dialer{Timeout: cfg.HandshakeTimeout} // a host that drops the SYN: retry, do not wait minutes
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("link: dial %s: %w", addr, err)
	}
	c, peer, err := handshake(ctx, conn, cfg, roleDialer)
	if err != nil {
		conn.Close()
		if errors.Is(err, ErrRejected) {
			cfg.Logger.Warn("link refused", zap.String("addr", addr), zap.Error(err))
		} else { // a listener restarting, or busy: the caller dials again
			cfg.Logger.Info("link handshake not completed", zap.String("addr", addr), zap.Error(err))
		}
		return nil, err
	}
	return newTCP(c, peer, cfg), nil
}

func newTCP(conn net.Conn, peer string, cfg Config) *TCP {
	raw := conn
	tc, isTLS := conn.(*tls.Conn)
	if isTLS {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
	}
	return &TCP{
		conn: conn, raw: raw, tls: tc, peer: peer, max: cfg.MaxFrame, log: cfg.Logger.With(zap.String("peer", peer)),
		recvTok: make(chan struct{}, 1), r: bufio.NewReaderSize(conn, 64<<10), bodies: newBodies(), done: make(chan struct{}),
	}
}

// Send writes f to the socket in one write. Concurrent Sends are serialized;
// a Send with a deadline gives up (and ends the link) when it passes.
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
	_, err := t.conn.Write(t.buf)
	if cap(t.buf) > 1<<20 {
		t.buf = nil // do not pin a large frame's buffer
	}
	if err != nil {
		t.fail(err)
		return t.Err()
	}
	return nil
}

// Recv reads the next frame from the peer. Frames come in order; a frame
// cut short by ctx is finished by the next Recv.
func (t *TCP) Recv(ctx context.Context) (Frame, error) {
	select {
	case t.recvTok <- struct{}{}:
	default:
		if err := t.waitRecvTurn(ctx); err != nil {
			return Frame{}, err
		}
	}
	defer func() { <-t.recvTok }()
	if err := t.Err(); err != nil {
		return Frame{}, err
	}
	if t.takeInterrupt() {
		return Frame{}, ErrInterrupted
	}
	stop := t.armInterrupt(ctx)
	f, err := t.partial.read(t.r, t.max, t.bodies)
	t.disarmInterrupt(stop)
	if err == nil {
		return f, nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if ctx.Err() != nil {
			return Frame{}, ctx.Err()
		}
		if t.takeInterrupt() {
			return Frame{}, ErrInterrupted
		}
	}
	t.fail(err)
	return Frame{}, t.Err()
}

// waitRecvTurn waits for another Recv to finish.
func (t *TCP) waitRecvTurn(ctx context.Context) error {
	select {
	case t.recvTok <- struct{}{}:
		return nil
	case <-t.done:
		return t.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// armInterrupt makes the end of ctx interrupt the read in progress (by a
// read deadline in the past). It returns nil when ctx cannot end.
func (t *TCP) armInterrupt(ctx context.Context) func() bool {
	if ctx.Done() == nil {
		return nil
	}
	t.dlMu.Lock()
	t.dlArmed = true
	t.dlMu.Unlock()
	return context.AfterFunc(ctx, func() {
		t.dlMu.Lock()
		defer t.dlMu.Unlock()
		if t.dlArmed {
			_ = t.conn.SetReadDeadline(time.Now())
			t.dlFired = true
		}
	})
}

// disarmInterrupt undoes armInterrupt once the read is over, clearing the
// deadline if the interruption fired (even too late to matter).
func (t *TCP) disarmInterrupt(stop func() bool) {
	if stop == nil || stop() {
		return
	}
	t.dlMu.Lock()
	defer t.dlMu.Unlock()
	t.dlArmed = false
	if t.dlFired {
		if !t.intr { // an Interrupt still needs the deadline
			_ = t.conn.SetReadDeadline(time.Time{})
		}
		t.dlFired = false
	}
}

// Close ends the link; the peer's next Recv fails.
func (t *TCP) Close() error {
	t.fail(ErrClosed)
	return nil
}

// Done is closed when the link has ended.
func (t *TCP) Done() <-chan struct{} { return t.done }

// TLSState is the link's TLS session (version, cipher suite, the peer's
// certificates); ok is false on a link without TLS.
func (t *TCP) TLSState() (state tls.ConnectionState, ok bool) {
	if t.tls == nil {
		return tls.ConnectionState{}, false
	}
	return t.tls.ConnectionState(), true
}

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
		// The TCP connection itself: a TLS Close would first send a
		// close_notify, which waits up to 5 s on a peer that stopped
		// reading (frozen, partitioned) while the link is declared dead.
		_ = t.raw.Close()
	})
}
