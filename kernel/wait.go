package kernel

import (
	"context"
	"sync"
)

// Waiting for a message. A goroutine blocked in Receive on a port (not a
// port set) is a waiter in the port's FIFO of waiters. A sender that finds
// one hands it the message itself: dequeued, stamped and copied out into
// the receiver's name space under the node lock, then passed through the
// waiter's own channel, so the receiver wakes with its message and takes
// no lock (a message costs one channel operation on each side, as a bare
// channel send does). A nil through the channel means "look again": a
// notification was queued, or the port died or left the task. Every value
// sent to a waiter is sent under the node lock by whoever took it off the
// port's list, so a waiter that gives up (its context ended) and finds
// itself no longer on the list knows its value is in its channel: a
// message handed over meanwhile is received, not lost.

// waiter is one goroutine blocked in Receive on a port.
type waiter struct {
	ch   chan *Message // capacity 1: one value each time the waiter is taken off its list
	next *waiter
}

var waiterPool = sync.Pool{New: func() any { return &waiter{ch: make(chan *Message, 1)} }}

// waiterList is a FIFO of waiters linked through waiter.next.
type waiterList struct{ head, tail *waiter }

func (l *waiterList) push(w *waiter) {
	w.next = nil
	if l.tail == nil {
		l.head = w
	} else {
		l.tail.next = w
	}
	l.tail = w
}

func (l *waiterList) pop() *waiter {
	w := l.head
	if w == nil {
		return nil
	}
	l.head = w.next
	if l.head == nil {
		l.tail = nil
	}
	w.next = nil
	return w
}

// remove takes w off the list; false when it is not on it.
func (l *waiterList) remove(w *waiter) bool {
	var prev *waiter
	for x := l.head; x != nil; prev, x = x, x.next {
		if x != w {
			continue
		}
		if prev == nil {
			l.head = x.next
		} else {
			prev.next = x.next
		}
		if l.tail == x {
			l.tail = prev
		}
		x.next = nil
		return true
	}
	return false
}

// put gives m, whose rights are in transit, to the port's first waiter,
// or queues it. node.mu held.
func (p *port) put(m *Message) {
	if w := p.take(m); w != nil {
		w.ch <- m
	}
}

// take takes the port's first waiter off its list and makes m its
// message (dequeued, stamped, its rights copied out); the caller passes m
// through the waiter's channel, under node.mu or right after releasing it
// (a waiter that gives up meanwhile waits for that send). With no waiter
// m is queued and take returns nil. node.mu held.
func (p *port) take(m *Message) *waiter {
	if p.waiters.head == nil || p.receiver == nil {
		p.enqueue(m)
		return nil
	}
	w := p.waiters.pop()
	m.Seqno = p.seqno
	p.seqno++
	p.receiver.copyoutMessage(m, p)
	return w
}

// wakeWaiter tells the port's first waiter to look again. node.mu held.
func (p *port) wakeWaiter() {
	if w := p.waiters.pop(); w != nil {
		w.ch <- nil
	}
}

// wakeAllWaiters tells every waiter to look again (the port dies or
// leaves its task: their retry fails on the name). node.mu held.
func (p *port) wakeAllWaiters() {
	for w := p.waiters.pop(); w != nil; w = p.waiters.pop() {
		w.ch <- nil
	}
}

// recvWait is where a blocked Receive waits: its waiter on a port, or a
// port set's wake channel, and the token of a link that feeds the port.
type recvWait struct {
	canWait bool // the caller blocks (Receive), not TryReceive
	canRead bool // the caller may read a link (its context has not ended)

	wake    chan struct{} // a port set's
	wt      *waiter       // on p's list, or taken off it with a value in wt.ch
	p       *port
	lr      *linkReader // counted in lr.waiting while set
	read    bool        // holds lr's token and is registered as p's reader
	holding bool        // took lr's token while waiting; not registered yet
}

// unwait takes w's waiter off its port: the message handed to it
// meanwhile, if any. node.mu held.
func (w *recvWait) unwait() *Message {
	wt := w.wt
	if wt == nil {
		return nil
	}
	w.wt = nil
	var m *Message
	if !w.p.waiters.remove(wt) {
		m = <-wt.ch // taken off the list: its value is sent, or about to be (take)
	}
	waiterPool.Put(wt)
	return m
}

// consumed returns the waiter whose value the caller received.
func (w *recvWait) consumed() {
	waiterPool.Put(w.wt)
	w.wt = nil
}

// settle uncounts w from its link and decides, for port p with no message
// (nil for a port set), whether the task reads the link itself (w.read),
// waits for its token (w.lr) or just for a hand-over or wake-up; a waiter
// joins p's list. A token w holds and cannot use is given back. node.mu held.
func (w *recvWait) settle(p *port) {
	prev, held := w.lr, w.holding // held: prev's token
	if prev != nil {
		prev.leave()
	}
	w.p, w.lr, w.read, w.holding = p, nil, false, false
	if p != nil && w.canRead && p.feed.canRead(p) {
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
	if p != nil && w.canWait && !w.read {
		w.wt = waiterPool.Get().(*waiter)
		p.waiters.push(w.wt)
	}
}

// release gives up a wait that ends without reading (a message, an error);
// its waiter is off the list already (unwait). node.mu held.
func (w *recvWait) release() {
	if w.lr != nil {
		w.lr.leave()
		if w.holding {
			<-w.lr.tok
		}
	}
	w.lr, w.read, w.holding, w.p, w.wake = nil, false, false, nil, nil
}

// waitReceive blocks a receiver until a message is handed to it (returned),
// a wake-up or its link's token (nil, nil: look again), or the end of ctx
// or of the task. With a ctx that cannot end and no link to read it waits
// on its channel alone, without a select (the local RPC fast path): the
// task's end still reaches it, because terminating destroys the task's
// receive rights and port sets, which wakes their waiters, and moving a
// receive right out of the task wakes them too. The caller's retry then
// sees ErrTaskDead or ErrInvalidName.
func (t *Task) waitReceive(ctx context.Context, w *recvWait) (*Message, error) {
	if w.wt == nil { // a port set
		if ctx.Done() == nil {
			h := t.enterBlocked()
			<-w.wake
			h.leave()
			return nil, nil
		}
		return nil, t.block(ctx, w.wake, "receive")
	}
	if w.lr == nil && ctx.Done() == nil {
		h := t.enterBlocked()
		m := <-w.wt.ch
		h.leave()
		w.consumed()
		return m, nil
	}
	return t.waitReceiveOrToken(ctx, w)
}

// waitReceiveOrToken is waitReceive with a select: on ctx, on the task's
// end, and on the token of the link feeding the port when it comes free.
func (t *Task) waitReceiveOrToken(ctx context.Context, w *recvWait) (*Message, error) {
	defer t.enterBlocked().leave()
	var tok chan struct{} // nil: never ready
	if w.lr != nil {
		tok = w.lr.tok
	}
	select {
	case m := <-w.wt.ch:
		w.consumed()
		return m, nil
	case tok <- struct{}{}:
		w.holding = true
		return nil, nil
	case <-t.done:
		return nil, ErrTaskDead
	case <-ctx.Done():
		return nil, ctxErr(ctx, "receive")
	}
}

// abandonWait ends a wait that failed with err; a message handed over
// meanwhile wins over the error.
func (t *Task) abandonWait(w *recvWait, err error) (*Message, error) {
	t.node.mu.Lock()
	defer t.node.mu.Unlock()
	m := w.unwait()
	w.release()
	if m != nil {
		return m, nil
	}
	return nil, err
}
