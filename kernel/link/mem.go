package link

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"time"

	"github.com/ftm-in-go/ftm/kernel/clock"
)

// Fate is what the in-memory link does with one frame.
type Fate int

// The fates a frame can meet.
const (
	Deliver   Fate = iota // delivered once, in order
	Drop                  // never delivered
	Duplicate             // delivered twice
	Delay                 // delivered after MemConfig.Delay on the clock
	Reorder               // held back and delivered after the next frame
)

func (f Fate) String() string {
	switch f {
	case Deliver:
		return "deliver"
	case Drop:
		return "drop"
	case Duplicate:
		return "duplicate"
	case Delay:
		return "delay"
	case Reorder:
		return "reorder"
	}
	return fmt.Sprintf("fate(%d)", int(f))
}

// MemConfig sets the faults of an in-memory link pair. With a fixed Seed
// the same sequence of sends meets the same fates.
type MemConfig struct {
	Seed int64
	// Probabilities of each fault per frame (0 to 1); the rest is Deliver.
	Drop, Duplicate, Delay, Reorder float64
	// DelayBy is how long a delayed frame waits (default 10ms).
	DelayBy time.Duration
	// Clock drives delays (default clock.Real).
	Clock clock.Clock
	// Script, when set, decides each frame's fate instead of the
	// probabilities; from is the sending node's name.
	Script func(from string, f Frame) Fate
}

// MemLink is one end of an in-memory link pair.
type MemLink struct {
	name, peer string
	shared     *memShared
	in         *memQueue     // frames for this end
	out        *memQueue     // frames for the peer
	intr       chan struct{} // capacity 1: an Interrupt not yet reported
}

var _ Link = (*MemLink)(nil)

type memShared struct {
	cfg  MemConfig
	mu   sync.Mutex // guards rng, held and err
	rng  *rand.Rand
	held map[*memQueue][]Frame // frames held back for reordering
	err  error
	once sync.Once
	done chan struct{}
}

// memQueue is an unbounded FIFO with a wake-up channel.
type memQueue struct {
	mu     sync.Mutex // guards frames
	frames []Frame
	wake   chan struct{}
}

// NewMemPair returns two connected ends named a and b.
func NewMemPair(a, b string, cfg MemConfig) (*MemLink, *MemLink) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.DelayBy <= 0 {
		cfg.DelayBy = 10 * time.Millisecond
	}
	s := &memShared{cfg: cfg, rng: rand.New(rand.NewSource(cfg.Seed)), held: map[*memQueue][]Frame{}, done: make(chan struct{})}
	qa, qb := newMemQueue(), newMemQueue()
	ea := &MemLink{name: a, peer: b, shared: s, in: qa, out: qb, intr: make(chan struct{}, 1)}
	eb := &MemLink{name: b, peer: a, shared: s, in: qb, out: qa, intr: make(chan struct{}, 1)}
	return ea, eb
}

func newMemQueue() *memQueue { return &memQueue{wake: make(chan struct{}, 1)} }

func (q *memQueue) push(f Frame) {
	q.mu.Lock()
	q.frames = append(q.frames, f)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *memQueue) pop() (Frame, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.frames) == 0 {
		return Frame{}, false
	}
	f := q.frames[0]
	q.frames[0] = Frame{}
	q.frames = q.frames[1:]
	return f, true
}

// Send applies the link's faults to f and queues it for the peer. The body
// is copied, as a network would.
func (m *MemLink) Send(ctx context.Context, f Frame) error {
	if err := m.Err(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.Body = append([]byte(nil), f.Body...)
	s := m.shared
	s.mu.Lock()
	fate := s.fate(m.name, f)
	held := s.held[m.out]
	delete(s.held, m.out)
	if fate == Reorder {
		s.held[m.out] = append(held, f)
		held = nil
	}
	s.mu.Unlock()
	switch fate {
	case Deliver:
		m.out.push(f)
	case Duplicate:
		m.out.push(f)
		m.out.push(f)
	case Delay:
		s.cfg.Clock.AfterFunc(s.cfg.DelayBy, func() {
			if m.Err() == nil {
				m.out.push(f)
			}
		})
	}
	for _, h := range held { // a held frame goes out after the one that overtook it
		m.out.push(h)
	}
	return nil
}

// fate decides what happens to f; s.mu held.
func (s *memShared) fate(from string, f Frame) Fate {
	if s.cfg.Script != nil {
		return s.cfg.Script(from, f)
	}
	x := s.rng.Float64()
	for _, c := range []struct {
		p    float64
		fate Fate
	}{{s.cfg.Drop, Drop}, {s.cfg.Duplicate, Duplicate}, {s.cfg.Delay, Delay}, {s.cfg.Reorder, Reorder}} {
		if x < c.p {
			return c.fate
		}
		x -= c.p
	}
	return Deliver
}

// Recv returns the next frame queued for this end.
func (m *MemLink) Recv(ctx context.Context) (Frame, error) {
	for {
		if f, ok := m.in.pop(); ok {
			return f, nil
		}
		select {
		case <-m.in.wake:
		case <-m.shared.done:
			if f, ok := m.in.pop(); ok {
				return f, nil
			}
			return Frame{}, m.Err()
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		case <-m.intr:
			return Frame{}, ErrInterrupted
		}
	}
}

// Cut fails the link for both ends, as a pulled cable or a dead peer would.
func (m *MemLink) Cut() { m.shared.end(fmt.Errorf("%w: cut", ErrClosed)) }

// Close ends the link for both ends.
func (m *MemLink) Close() error {
	m.shared.end(ErrClosed)
	return nil
}

func (s *memShared) end(err error) {
	s.once.Do(func() {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.done)
	})
}

// Done is closed when the link has ended.
func (m *MemLink) Done() <-chan struct{} { return m.shared.done }

// Err says why the link ended.
func (m *MemLink) Err() error {
	m.shared.mu.Lock()
	defer m.shared.mu.Unlock()
	return m.shared.err
}

// Peer is the other end's name.
func (m *MemLink) Peer() string { return m.peer }
