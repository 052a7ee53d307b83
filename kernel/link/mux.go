package link

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Mux splits one Link into one sub-link per Service.
//
// There is no routing goroutine on the receive path: a channel's Recv that
// finds its queue empty reads the parent link itself (one reader at a time,
// by a token), keeps a frame for its own service and queues the others for
// their channels. A frame for a waiting receiver therefore reaches it
// without a goroutine hand-off, as on the bare link. When no Recv has been
// waiting for MuxIdleRead, a standby goroutine takes the reader's part, so
// frames keep flowing to their queues and the end of the parent link is
// noticed even while nobody receives; it gives the part back after the
// frame it is reading whenever a receiver is waiting.
//
// A frame for a service not opened yet is held (up to MuxHoldFrames frames
// and MuxHoldBytes of bodies in all) and handed to the channel when it
// opens, so a peer may start talking before this side has opened every
// channel. Frames past those bounds, and frames for a channel that was
// closed, are dropped and logged.
type Mux struct {
	l      Link
	pi     Interrupter // l, when it is one: its channels are Interrupters too
	log    *zap.Logger
	tok    chan struct{} // capacity 1: held by whoever reads l
	idle   *time.Timer   // wakes the standby reader when no Recv waits
	kick   chan struct{} // capacity 1: wakes the standby reader to read ahead
	ahead  atomic.Bool   // a receiver read a frame that calls for reading ahead
	ended  sync.Once     // closes routed
	routed chan struct{} // closed when the parent link has ended and every frame it gave was routed

	mu        sync.Mutex // guards the fields below
	waiting   int        // channel Recvs waiting for a frame
	subs      map[Service]*muxLink
	held      map[Service][]Frame // frames for services not opened yet
	heldN     int                 // frames in held
	heldBytes int                 // body bytes in held
	closed    map[Service]bool    // services whose channel was closed
}

// Bounds on frames a Mux holds for services not opened yet.
const (
	MuxHoldFrames = 1024
	MuxHoldBytes  = 4 << 20
)

// MuxIdleRead is how long no channel Recv may wait before the Mux's standby
// goroutine reads the parent link in their stead.
const MuxIdleRead = 2 * time.Millisecond

// muxReadAhead: a receiver that read a frame at least this large itself,
// with more bytes already buffered behind it (a bulk transfer), wakes the
// standby goroutine, which reads the next frames while the receiver handles
// this one: reading and handling run on two cores at once.
const muxReadAhead = 64 << 10

// NewMux starts serving l's frames. Closing the Mux closes l.
func NewMux(l Link, log *zap.Logger) *Mux {
	if log == nil {
		log = zap.NewNop()
	}
	m := &Mux{l: l, log: log, tok: make(chan struct{}, 1), kick: make(chan struct{}, 1), routed: make(chan struct{}),
		subs: map[Service]*muxLink{}, held: map[Service][]Frame{}, closed: map[Service]bool{}}
	m.pi, _ = l.(Interrupter)
	m.idle = time.NewTimer(MuxIdleRead)
	go m.standby()
	return m
}

// ErrServiceOpen is returned when a service's channel is opened twice.
var ErrServiceOpen = fmt.Errorf("link: service already open on this mux")

// Channel opens the sub-link for s: its Sends go out tagged with s and its
// Recv sees only frames for s.
func (m *Mux) Channel(s Service) (Link, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.subs[s]; ok {
		return nil, fmt.Errorf("%w: service %d", ErrServiceOpen, s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &muxLink{m: m, svc: s, q: newMemQueue(), ctx: ctx, cancel: cancel, closed: make(chan struct{}), done: make(chan struct{}),
		intrCh: make(chan struct{}, 1)}
	for _, f := range m.held[s] {
		c.q.push(f)
		m.heldN--
		m.heldBytes -= len(f.Body)
	}
	delete(m.held, s)
	delete(m.closed, s)
	m.subs[s] = c
	go func() { // done follows whichever ends first: the channel or the link
		select {
		case <-c.closed:
		case <-m.routed:
		}
		close(c.done)
	}()
	if m.pi != nil {
		return &muxLinkIntr{c}, nil
	}
	return c, nil
}

// Close ends the parent link and so every channel.
func (m *Mux) Close() error { return m.l.Close() }

// Link is the parent link.
func (m *Mux) Link() Link { return m.l }

// Done is closed once the parent link has ended and all its frames have
// been routed to their channels.
func (m *Mux) Done() <-chan struct{} { return m.routed }

// standby reads the parent link while no channel Recv waits (the idle
// timer fires), and notices its end.
func (m *Mux) standby() {
	for {
		select {
		case <-m.routed:
			m.idle.Stop()
			return
		case <-m.idle.C:
			m.standbyRead(false)
		case <-m.kick:
			m.standbyRead(false)
		case <-m.l.Done():
			m.standbyRead(true)
		}
	}
}

// standbyRead reads and routes frames while nobody else wants to read, and
// through a bulk transfer (large frames with more bytes buffered behind
// them) even while receivers wait, as they handle what it queues. Once the
// parent has ended (final), it waits its turn to read the end.
func (m *Mux) standbyRead(final bool) {
	if final {
		select {
		case m.tok <- struct{}{}:
		case <-m.routed:
			return
		}
	} else {
		select {
		case m.tok <- struct{}{}:
		default:
			return // a receiver is reading
		}
	}
	defer func() { <-m.tok }()
	bulk := false // in a bulk transfer: keep reading ahead of the receivers
	for final || bulk || !m.receiverWaiting() {
		f, err := m.l.Recv(context.Background())
		if errors.Is(err, ErrInterrupted) {
			continue // meant for a channel that has read its frame since
		}
		if err != nil {
			m.end()
			return
		}
		bulk = len(f.Body) >= muxReadAhead && m.moreBuffered()
		if c := m.lookup(f); c != nil {
			c.q.push(f)
		}
	}
}

// moreBuffered says whether the parent has bytes of a next frame read
// already (a TCP link's buffer); the reader's token held.
func (m *Mux) moreBuffered() bool {
	t, ok := m.l.(*TCP)
	return ok && t.r.Buffered() > 0
}

// readAhead wakes the standby reader (if it is not awake already).
func (m *Mux) readAhead() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *Mux) receiverWaiting() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.waiting > 0
}

// end marks the parent link ended and every frame routed.
func (m *Mux) end() { m.ended.Do(func() { close(m.routed) }) }

// readFor reads one frame from the parent as channel c's receiver (the
// caller holds the token) and routes it: true when it is c's.
func (m *Mux) readFor(ctx context.Context, c *muxLink) (Frame, bool, error) {
	f, err := m.l.Recv(ctx)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrInterrupted) {
			m.end()
		}
		return Frame{}, false, err
	}
	dst := m.lookup(f)
	if dst == c {
		return f, true, nil
	}
	if dst != nil {
		dst.q.push(f)
	}
	return Frame{}, false, nil
}

// wait counts a channel Recv waiting (+1) or leaving (-1); when the last
// one leaves, the standby reader is due after MuxIdleRead.
func (m *Mux) wait(d int) {
	m.mu.Lock()
	m.waiting += d
	last := m.waiting == 0
	m.mu.Unlock()
	if last {
		m.idle.Reset(MuxIdleRead)
	}
}

// lookup returns the channel for f, or nil after holding or dropping f.
func (m *Mux) lookup(f Frame) *muxLink {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.subs[f.Service]; c != nil {
		return c
	}
	why := ""
	switch {
	case m.closed[f.Service]:
		why = "channel closed"
	case m.heldN >= MuxHoldFrames || m.heldBytes+len(f.Body) > MuxHoldBytes:
		why = "too many frames held for services not opened"
	default:
		m.held[f.Service] = append(m.held[f.Service], f)
		m.heldN++
		m.heldBytes += len(f.Body)
		return nil
	}
	m.log.Warn("frame for a service nobody opened dropped", zap.Uint8("service", uint8(f.Service)),
		zap.Uint8("kind", f.Kind), zap.String("why", why))
	return nil
}

// muxLink is one service's view of the parent link.
type muxLink struct {
	m      *Mux
	svc    Service
	q      *memQueue
	ctx    context.Context // ended by Close: interrupts this channel's read of the parent
	cancel context.CancelFunc
	once   sync.Once
	closed chan struct{} // this channel was closed (the parent may live on)
	done   chan struct{} // closed or the parent ended

	intrMu   sync.Mutex    // guards intr and inParent
	intr     bool          // an Interrupt not yet reported
	inParent bool          // this channel's Recv reads the parent
	intrSet  atomic.Bool   // intr, read without intrMu on every Recv
	intrCh   chan struct{} // capacity 1: wakes a Recv waiting for an Interrupt
}

// muxLinkIntr is a channel of a Mux over an Interrupter.
type muxLinkIntr struct{ *muxLink }

// Interrupt cuts the channel's Recv short (or the next one): in its wait,
// or in its read of the parent link.
func (c *muxLinkIntr) Interrupt() {
	c.intrMu.Lock()
	defer c.intrMu.Unlock()
	if c.intr {
		return
	}
	c.intr = true
	c.intrSet.Store(true)
	if c.inParent {
		c.m.pi.Interrupt()
	}
	select {
	case c.intrCh <- struct{}{}:
	default:
	}
}

// takeInterrupt reports and clears a pending Interrupt.
func (c *muxLink) takeInterrupt() bool {
	if !c.intrSet.Load() {
		return false
	}
	c.intrMu.Lock()
	defer c.intrMu.Unlock()
	if !c.intr {
		return false
	}
	c.intr = false
	c.intrSet.Store(false)
	return true
}

// enterParent marks the channel as reading the parent, unless an
// Interrupt is pending or the channel was closed (false): from then on
// Interrupt and Close interrupt the parent's read.
func (c *muxLink) enterParent() bool {
	c.intrMu.Lock()
	defer c.intrMu.Unlock()
	select {
	case <-c.closed:
		c.inParent = false
	default:
		c.inParent = !c.intr
	}
	return c.inParent
}

func (c *muxLink) leaveParent() {
	c.intrMu.Lock()
	c.inParent = false
	c.intrMu.Unlock()
}

func (c *muxLink) Send(ctx context.Context, f Frame) error {
	select {
	case <-c.closed:
		return ErrClosed
	default:
	}
	f.Service = c.svc
	return c.m.l.Send(ctx, f)
}

// Recv returns the next frame for this service: from its queue, or read
// from the parent link by this very call when no other Recv is reading it.
// In a bulk transfer the standby goroutine reads ahead while the caller
// handles the frame.
func (c *muxLink) Recv(ctx context.Context) (Frame, error) {
	f, err := c.recv(ctx)
	if c.m.ahead.Load() && c.m.ahead.Swap(false) {
		c.m.readAhead()
	}
	return f, err
}

func (c *muxLink) recv(ctx context.Context) (Frame, error) {
	if c.takeInterrupt() {
		return Frame{}, ErrInterrupted
	}
	if f, ok := c.q.pop(); ok {
		return f, nil
	}
	c.m.wait(1)
	defer c.m.wait(-1)
	for {
		if f, ok := c.q.pop(); ok {
			return f, nil
		}
		select {
		case <-c.q.wake:
		case <-c.intrCh:
			if c.takeInterrupt() {
				return Frame{}, ErrInterrupted
			}
		case c.m.tok <- struct{}{}:
			f, mine, err := c.readParent(ctx)
			if mine || err != nil {
				return f, err
			}
		case <-c.closed:
			return Frame{}, ErrClosed
		case <-c.m.routed:
			if f, ok := c.q.pop(); ok {
				return f, nil
			}
			return Frame{}, c.m.l.Err()
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		}
	}
}

// readParent reads one frame from the parent link holding the reader's
// token, interrupted by ctx or by this channel's Close. A frame for another
// service is queued for it (mine is false).
func (c *muxLink) readParent(ctx context.Context) (f Frame, mine bool, err error) {
	defer func() { <-c.m.tok }()
	if f, ok := c.q.pop(); ok { // routed to us while we waited for the token
		return f, true, nil
	}
	if !c.enterParent() {
		if c.takeInterrupt() {
			return Frame{}, false, ErrInterrupted
		}
		return Frame{}, false, ErrClosed
	}
	defer c.leaveParent()
	rctx := c.ctx
	if c.m.pi != nil { // Close interrupts the parent instead: no interruption to arm per read
		rctx = ctx
	} else if ctx.Done() != nil {
		var cancel context.CancelFunc
		rctx, cancel = context.WithCancel(ctx)
		stop := context.AfterFunc(c.ctx, cancel)
		defer stop()
		defer cancel()
	}
	f, mine, err = c.m.readFor(rctx, c)
	switch {
	case err == nil:
		if mine && len(f.Body) >= muxReadAhead && c.m.moreBuffered() {
			c.m.ahead.Store(true)
		}
		return f, mine, nil
	case ctx.Err() != nil:
		return Frame{}, false, ctx.Err()
	case c.ctx.Err() != nil:
		return Frame{}, false, ErrClosed
	case errors.Is(err, ErrInterrupted):
		if c.takeInterrupt() {
			return Frame{}, false, ErrInterrupted
		}
		return Frame{}, false, nil // another channel's, left over: read again
	}
	if g, ok := c.q.pop(); ok { // the link ended after routing frames to us
		return g, true, nil
	}
	return Frame{}, false, err
}

// Close closes this channel only; frames for it are dropped from then on
// (until the service is opened again).
func (c *muxLink) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.cancel()
		c.intrMu.Lock()
		if c.inParent && c.m.pi != nil {
			c.m.pi.Interrupt()
		}
		c.intrMu.Unlock()
		c.m.mu.Lock()
		delete(c.m.subs, c.svc)
		c.m.closed[c.svc] = true
		c.m.mu.Unlock()
	})
	return nil
}

// Done is closed when this channel is closed or the parent link ends
// (closing a channel does not end the link for the other services).
func (c *muxLink) Done() <-chan struct{} { return c.done }

func (c *muxLink) Err() error {
	select {
	case <-c.closed:
		return ErrClosed
	default:
		return c.m.l.Err()
	}
}

func (c *muxLink) Peer() string { return c.m.l.Peer() }
