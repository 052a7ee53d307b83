package link

import (
	"context"
	"fmt"
	"sync"

	"go.uber.org/zap"
)

// Mux splits one Link into one sub-link per Service. A single goroutine
// reads the parent link and routes each frame to its service's queue.
//
// A frame for a service not opened yet is held (up to MuxHoldFrames frames
// and MuxHoldBytes of bodies in all) and handed to the channel when it
// opens, so a peer may start talking before this side has opened every
// channel. Frames past those bounds, and frames for a channel that was
// closed, are dropped and logged.
type Mux struct {
	l      Link
	log    *zap.Logger
	routed chan struct{} // closed when the parent link has ended and every frame it gave was routed

	mu        sync.Mutex // guards the fields below
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

// NewMux starts routing l's frames. Closing the Mux closes l.
func NewMux(l Link, log *zap.Logger) *Mux {
	if log == nil {
		log = zap.NewNop()
	}
	m := &Mux{l: l, log: log, routed: make(chan struct{}), subs: map[Service]*muxLink{}, held: map[Service][]Frame{}, closed: map[Service]bool{}}
	go m.route()
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
	c := &muxLink{m: m, svc: s, q: newMemQueue(), closed: make(chan struct{}), done: make(chan struct{})}
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
	return c, nil
}

// Close ends the parent link and so every channel.
func (m *Mux) Close() error { return m.l.Close() }

// Link is the parent link.
func (m *Mux) Link() Link { return m.l }

// Done is closed once the parent link has ended and all its frames have
// been routed to their channels.
func (m *Mux) Done() <-chan struct{} { return m.routed }

func (m *Mux) route() {
	defer close(m.routed)
	for {
		f, err := m.l.Recv(context.Background())
		if err != nil {
			return
		}
		if c := m.lookup(f); c != nil {
			c.q.push(f)
		}
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
	once   sync.Once
	closed chan struct{} // this channel was closed (the parent may live on)
	done   chan struct{} // closed or the parent ended
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

func (c *muxLink) Recv(ctx context.Context) (Frame, error) {
	for {
		if f, ok := c.q.pop(); ok {
			return f, nil
		}
		select {
		case <-c.q.wake:
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

// Close closes this channel only; frames for it are dropped from then on
// (until the service is opened again).
func (c *muxLink) Close() error {
	c.once.Do(func() {
		close(c.closed)
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
