package kernel

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/link"
)

// Reading a link. One goroutine at a time reads an attached link: the
// holder of its token. On a link that can be interrupted
// (link.Interrupter), that is a task blocked in Receive on a port the link
// feeds (a port exported to the peer, or one the link delivered to): it
// reads the link itself and handles every frame it reads, for any port, until
// its own port has a message. A frame from the peer therefore reaches the
// task waiting for it with no goroutine hand-off, as a raw socket read would.
// A local sender, the receive right's move, the port's death and the end of
// the receiver's context take the task out of its read (port.interruptReader).
//
// The link's standby goroutine (serve) reads when no task has wanted to for
// linkIdleRead, so frames for ports nobody reads the link for still arrive
// (within that delay) and the link's end is noticed; it reads on while no
// task waits for the token, and a task that comes to wait for it
// interrupts its read, so it gives the token back at once. A reading task never waits for queue space on another port:
// a frame it cannot deliver at once goes to the standby with the token, which
// waits for the space (the link stays flow-controlled by its receivers). On a
// link that cannot be interrupted the standby reads every frame, as before.

// linkIdleRead is how long no task may have read or waited to read a link
// before its standby goroutine reads it.
const linkIdleRead = 2 * time.Millisecond

// linkReader is one attached link's reading.
type linkReader struct {
	ps      *peerState
	l       link.Link
	intr    link.Interrupter // l, when tasks may read it; nil otherwise
	tok     chan struct{}    // capacity 1: held by the goroutine reading l
	idle    *time.Timer      // wakes the standby when no task has read for linkIdleRead
	kick    chan struct{}    // capacity 1: wakes the standby to read now
	handoff chan *wireMsg    // capacity 1: a frame a task could not deliver at once; the token comes with it

	// Guarded by node.mu.
	waiting int    // tasks reading l or waiting for its token
	left    uint64 // counts tasks that stopped reading or waiting: the standby sees activity by it
	armed   bool   // idle is running
	inRecv  *port  // the port whose task is in l.Recv now, nil otherwise
	standby bool   // the standby holds the token and may be in l.Recv
	dead    bool   // lost or replaced: no task reads it any more
}

func newLinkReader(ps *peerState, l link.Link) *linkReader {
	lr := &linkReader{ps: ps, l: l, tok: make(chan struct{}, 1), kick: make(chan struct{}, 1),
		handoff: make(chan *wireMsg, 1), idle: time.NewTimer(linkIdleRead), armed: true}
	lr.intr, _ = l.(link.Interrupter)
	return lr
}

// canRead says whether a task may read the link for p now. node.mu held.
func (lr *linkReader) canRead(p *port) bool {
	return lr != nil && lr.intr != nil && !lr.dead && p.reading == nil && p.set == nil
}

// leave uncounts a task that read or waited for the token; the standby is
// due linkIdleRead after the last one. The timer is armed only if it is not
// running already (resetting it on every message would cost a wake-up of
// the runtime's poller each time): the standby re-arms it as long as it
// sees tasks come and go (idleCheck). node.mu held.
func (lr *linkReader) leave() {
	lr.waiting--
	lr.left++
	if lr.waiting == 0 && !lr.armed {
		lr.armed = true
		lr.idle.Reset(linkIdleRead)
	}
}

// idleCheck runs when the idle timer fires: true when no task has read
// or waited since seen (the previous check's count), so the standby reads.
// While tasks come and go it re-arms the timer; while one reads or waits
// the next leave arms it.
func (nm *netmsg) idleCheck(lr *linkReader, seen *uint64) bool {
	nm.n.mu.Lock()
	defer nm.n.mu.Unlock()
	lr.armed = false
	if lr.waiting > 0 {
		*seen = lr.left
		return false
	}
	if lr.left != *seen {
		*seen = lr.left
		lr.armed = true
		lr.idle.Reset(linkIdleRead)
		return false
	}
	return true
}

// wakeStandby asks the standby goroutine to read now (someone waits for a
// frame without reading the link itself, as Lookup does).
func (lr *linkReader) wakeStandby() {
	select {
	case lr.kick <- struct{}{}:
	default:
	}
}

// interruptReader stops a task reading a link for p (a message was queued
// on p, or p dies or leaves its task): out of its read at once if it is in
// one, or after the frame it is handling. node.mu held.
func (p *port) interruptReader() {
	lr := p.reading
	if lr == nil {
		return
	}
	p.reading = nil
	if lr.inRecv == p {
		lr.inRecv = nil
		lr.intr.Interrupt()
	}
}

// recvWait is where a blocked Receive waits: a port's (or set's) wake
// channel, and the token of a link that feeds the port.
type recvWait struct {
	wake    chan struct{}
	p       *port
	lr      *linkReader // counted in lr.waiting while set
	read    bool        // holds lr's token and is registered as p's reader
	holding bool        // took lr's token while waiting; not registered yet
}

// settle uncounts w from its link and decides, for a port with no message,
// whether the task reads the link itself (w.read), waits for its token
// (w.lr) or just for the wake-up. A token w holds and cannot use is given
// back. node.mu held.
func (w *recvWait) settle(p *port, mayRead bool) {
	prev, held := w.lr, w.holding // held: prev's token
	if prev != nil {
		prev.leave()
	}
	*w = recvWait{wake: w.wake, p: p}
	if p != nil && mayRead && p.feed.canRead(p) {
		lr := p.feed
		if held && lr == prev {
			held, w.read = false, true
		} else {
			w.read = tryTake(lr.tok)
		}
		if w.read {
			p.reading, lr.inRecv = lr, p
		} else if lr.standby { // it gives the token back after its read
			lr.standby = false
			lr.intr.Interrupt()
		}
		lr.waiting++
		w.lr = lr
	}
	if held { // a token it cannot use: the port is read for by another goroutine, or fed by another link
		<-prev.tok
	}
}

// release gives up a wait that ends without reading (a message, an error).
// node.mu held.
func (w *recvWait) release() {
	if w.lr != nil {
		w.lr.leave()
		if w.holding {
			<-w.lr.tok
		}
	}
	*w = recvWait{}
}

func tryTake(tok chan struct{}) bool {
	select {
	case tok <- struct{}{}:
		return true
	default:
		return false
	}
}

// readLink reads w.lr's link as the receiver of w.p until the port may
// have a message or the reading is interrupted, then gives the token back
// (unless it went to the standby with a frame). The task counts as blocked
// meanwhile: it touches none of its memory.
func (t *Task) readLink(ctx context.Context, w *recvWait) {
	n, lr, p := t.node, w.lr, w.p
	h := t.enterBlocked()
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() {
			n.mu.Lock()
			if p.reading == lr {
				p.interruptReader()
			}
			n.mu.Unlock()
		})
	}
	if n.net.readFor(lr, p) {
		<-lr.tok
	}
	w.read = false
	if stop != nil {
		stop()
	}
	h.leave()
}

// readFor reads and handles frames as p's reader. It returns true when the
// caller must give the token back, false when it went to the standby.
func (nm *netmsg) readFor(lr *linkReader, p *port) bool {
	n := nm.n
	for {
		f, err := lr.l.Recv(context.Background())
		if err != nil {
			if !errors.Is(err, link.ErrInterrupted) {
				nm.linkLost(lr, err)
			}
			n.mu.Lock()
			lr.stopReading(p)
			n.mu.Unlock()
			return true
		}
		more, handed := nm.handleAsReader(lr, p, f)
		if handed {
			return false
		}
		if !more {
			return true
		}
	}
}

// stopReading ends p's reading of lr. node.mu held.
func (lr *linkReader) stopReading(p *port) {
	if lr.inRecv == p {
		lr.inRecv = nil
	}
	if p.reading == lr {
		p.reading = nil
	}
}

// goOn decides, after a frame, whether p's reader reads another one: not
// once p has a message or the reading was interrupted. node.mu held.
func (lr *linkReader) goOn(p *port) bool {
	if p.reading != lr || p.q.n > 0 || lr.dead {
		lr.stopReading(p)
		return false
	}
	lr.inRecv = p
	return true
}

// handleAsReader handles a frame a task read as p's reader: more says
// whether it reads on, handed that the frame went to the standby with the
// token (its port's queue is full).
func (nm *netmsg) handleAsReader(lr *linkReader, p *port, f link.Frame) (more, handed bool) {
	n := nm.n
	if f.Kind != kindMsg {
		n.mu.Lock()
		lr.inRecv = nil
		n.mu.Unlock()
		nm.handleOrClose(lr, f)
		n.mu.Lock()
		defer n.mu.Unlock()
		return lr.goOn(p), false
	}
	var w wireMsg
	if err := decodeWireMsg(f.Body, &w); err != nil {
		nm.badFrame(lr, err)
		n.mu.Lock()
		defer n.mu.Unlock()
		lr.stopReading(p)
		return false, false
	}
	n.mu.Lock()
	lr.inRecv = nil
	res := nm.tryDeliver(lr, &w)
	if res == deliverFull {
		lr.stopReading(p)
		n.mu.Unlock()
		full := w // only this frame leaves the stack
		lr.handoff <- &full
		return false, true
	}
	more = lr.goOn(p)
	n.mu.Unlock()
	if res == deliverDead {
		_ = nm.sendWire(n.ctx, lr.l, kindDead, &wireCtl{ID: w.Dest})
	}
	return more, false
}

// handleOrClose handles a frame and closes the link on a malformed one.
func (nm *netmsg) handleOrClose(lr *linkReader, f link.Frame) {
	if err := nm.handle(lr, f); err != nil {
		nm.badFrame(lr, err)
	}
}

func (nm *netmsg) badFrame(lr *linkReader, err error) {
	nm.n.log.Warn("bad frame from peer; closing link", zap.String("peer", lr.ps.name), zap.Error(err))
	_ = lr.l.Close()
}

// serve is the link's standby reader (every frame, on a link tasks cannot
// read). When the link has ended it reads the end and schedules the peer's
// death.
func (nm *netmsg) serve(lr *linkReader) {
	defer nm.wg.Done()
	defer lr.idle.Stop()
	if lr.intr == nil {
		lr.tok <- struct{}{}
		nm.standbyRead(lr, true)
		return
	}
	var seen uint64 // tasks that had left at the last idle check
	for {
		final := false
		select {
		case <-lr.idle.C:
			if !nm.idleCheck(lr, &seen) || !tryTake(lr.tok) {
				continue
			}
		case <-lr.kick:
			if !tryTake(lr.tok) {
				continue
			}
		case w := <-lr.handoff: // the token came with it
			if nm.deliver(lr, w) != nil {
				_ = lr.l.Close()
			}
		case <-lr.l.Done():
			final = true
			select {
			case lr.tok <- struct{}{}:
			case w := <-lr.handoff: // a task's last frame before the end
				_ = nm.deliver(lr, w)
			}
		}
		if nm.standbyRead(lr, final) {
			return
		}
	}
}

// standbyRead reads and handles frames, holding the token, while no task
// waits for it (to the link's end when final), then gives the token back.
// It reports whether the link has ended.
func (nm *netmsg) standbyRead(lr *linkReader, final bool) bool {
	defer func() {
		nm.n.mu.Lock()
		lr.standby = false
		nm.n.mu.Unlock()
		<-lr.tok
	}()
	for final || !nm.tasksWait(lr) {
		f, err := lr.l.Recv(context.Background())
		if errors.Is(err, link.ErrInterrupted) {
			continue // meant for a task that has read its message since
		}
		if err != nil {
			nm.linkLost(lr, err)
			return true
		}
		nm.handleOrClose(lr, f)
	}
	return false
}

// tasksWait says whether a task waits for the token; if none does, the
// standby goes on reading (a task that comes to wait interrupts it).
func (nm *netmsg) tasksWait(lr *linkReader) bool {
	nm.n.mu.Lock()
	defer nm.n.mu.Unlock()
	lr.standby = lr.waiting == 0 && lr.intr != nil
	return lr.waiting > 0
}
