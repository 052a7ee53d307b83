package pair

import (
	"context"
	"sync"

	"github.com/ftm-in-go/ftm/stm"
)

// pacedMirror is the mirror a cluster member attaches a new backup
// through: it lets commits pass the full copy. stm streams the copy in
// chunks of up to 1 MiB, each one round trip on the same link as the
// commits, so a commit made during the copy waits behind a whole chunk
// being sent and stored (measured: 10 to 165 times a normal commit's
// latency). pacedMirror splits each chunk into pieces of about piece bytes
// (whole objects), and sends a piece only while no commit's Prepare or
// Decide is in flight: a commit then waits behind one piece at most. The
// copy's content and order are stm's, unchanged: only the boundaries of
// its middle chunks move (the first and the last pass as they are).
type pacedMirror struct {
	stm.Mirror
	piece int

	mu       sync.Mutex
	idle     chan struct{} // closed when inflight drops to 0
	inflight int
}

// copyPiece is a piece's size: a commit made during a copy waits for at
// most this much copy traffic.
const copyPiece = 16 << 10

func newPacedMirror(m stm.Mirror) *pacedMirror {
	return &pacedMirror{Mirror: m, piece: copyPiece}
}

// Prepare ships a commit's phase 1, ahead of the next piece of the copy.
func (p *pacedMirror) Prepare(ctx context.Context, pr *stm.Prepare) error {
	defer p.enter()()
	return p.Mirror.Prepare(ctx, pr)
}

// Decide ships a group decision, ahead of the next piece of the copy.
func (p *pacedMirror) Decide(ctx context.Context, d *stm.Decision) error {
	defer p.enter()()
	return p.Mirror.Decide(ctx, d)
}

// enter counts a commit message in flight; the function it returns
// counts it out.
func (p *pacedMirror) enter() func() {
	p.mu.Lock()
	p.inflight++
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.inflight--; p.inflight == 0 && p.idle != nil {
			close(p.idle)
			p.idle = nil
		}
	}
}

// waitIdle returns once the commit messages in flight now have been
// answered (or ctx ended). It waits for them once only, not for an idle
// moment: under back-to-back commits the next one is often in flight
// again before the copy wakes, and the copy must still progress (one
// piece per commit at least).
func (p *pacedMirror) waitIdle(ctx context.Context) error {
	p.mu.Lock()
	if p.inflight == 0 {
		p.mu.Unlock()
		return nil
	}
	if p.idle == nil {
		p.idle = make(chan struct{})
	}
	idle := p.idle
	p.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Load ships a chunk of the copy piece by piece, each when no commit is in
// flight.
func (p *pacedMirror) Load(ctx context.Context, c *stm.Chunk) error {
	if c.First || c.Last {
		return p.Mirror.Load(ctx, c)
	}
	objs := c.Objects
	for len(objs) > 0 {
		n, size := 0, 0
		for n < len(objs) && (n == 0 || size+len(objs[n].Data) <= p.piece) {
			size += len(objs[n].Data)
			n++
		}
		if err := p.waitIdle(ctx); err != nil {
			return err
		}
		piece := *c
		piece.Objects = objs[:n]
		if err := p.Mirror.Load(ctx, &piece); err != nil {
			return err
		}
		objs = objs[n:]
	}
	return nil
}
