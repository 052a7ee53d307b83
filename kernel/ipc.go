package kernel

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Send queues m on the port named by m.Dest. It blocks while the port's
// queue is full, until ctx ends (ErrTimedOut when its deadline passed). On
// success m belongs to the kernel. On error nothing was sent and the sender
// keeps every right it named.
func (t *Task) Send(ctx context.Context, m *Message) error {
	return t.send(ctx, m, true)
}

// SendTimeout is Send bounded by d on the node's clock: a sender still
// blocked on a full queue after d gets ErrTimedOut (and keeps its rights).
func (t *Task) SendTimeout(ctx context.Context, m *Message, d time.Duration) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := t.node.cfg.Clock.AfterFunc(d, func() { cancel(ErrTimedOut) })
	defer timer.Stop()
	return t.Send(ctx, m)
}

// TrySend is Send that fails with ErrQueueFull instead of waiting.
func (t *Task) TrySend(m *Message) error {
	return t.send(context.Background(), m, false)
}

func (t *Task) send(ctx context.Context, m *Message, wait bool) error {
	t.safePoint()
	if m == nil {
		return fmt.Errorf("send: %w: nil message", ErrInvalidValue)
	}
	if len(m.Body) > t.node.cfg.MaxBody || len(m.Rights) > t.node.cfg.MaxRights {
		return fmt.Errorf("send %d bytes, %d rights: %w", len(m.Body), len(m.Rights), ErrMsgTooLarge)
	}
	for {
		wake, remote, err := t.trySend(m)
		if wake == nil || err != nil {
			if err == nil && remote != nil {
				return t.node.net.forward(ctx, remote, m)
			}
			return err
		}
		if !wait {
			t.node.mu.Lock()
			m.dst.sendWait--
			m.dst = nil
			t.node.mu.Unlock()
			return fmt.Errorf("send to %d: %w", m.Dest, ErrQueueFull)
		}
		err = t.block(ctx, wake, "send")
		t.node.mu.Lock()
		m.dst.sendWait--
		m.dst = nil
		t.node.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// trySend enqueues m if there is room. When the queue is full it returns a
// channel to wait on (the sender is counted in sendWait). For a proxy port
// it copies the rights in and returns the proxy, for the caller to forward
// once the node lock is released.
func (t *Task) trySend(m *Message) (chan struct{}, *port, error) {
	if err := t.lock(); err != nil {
		return nil, nil, err
	}
	defer t.unlock()
	if m.dst != nil { // still queued: it belongs to the kernel
		return nil, nil, fmt.Errorf("send: %w: message already sent and not yet received", ErrInvalidValue)
	}
	e, err := t.lookup(m.Dest)
	if err != nil {
		return nil, nil, fmt.Errorf("send: %w", err)
	}
	t.settle(e)
	p := e.p
	if p == nil || (e.dead > 0 && p.dead) {
		if p != nil && p.dead {
			return nil, nil, fmt.Errorf("send to %d: %w", m.Dest, ErrPortDead)
		}
		return nil, nil, fmt.Errorf("send to %d: %w: a port set", m.Dest, ErrInvalidRight)
	}
	if p.remote == nil && p.q.n >= p.limit && m.DestDisp != MoveSendOnce && !e.sendOnce {
		if p.sendWake == nil {
			p.sendWake = make(chan struct{})
		}
		p.sendWait++
		m.dst = p
		return p.sendWake, nil, nil
	}
	m.dst = nil
	if p.remote != nil {
		if err := checkRemotable(m); err != nil {
			return nil, nil, err
		}
	}
	if err := t.copyinMessage(m, e); err != nil {
		return nil, nil, err
	}
	if p.remote != nil {
		return nil, p, nil
	}
	p.enqueue(m)
	t.consumeDest(xright{p: p, kind: m.destKind})
	return nil, nil, nil
}

// copyinMessage moves the destination, reply and carried rights into
// transit, all or nothing. node.mu held.
func (t *Task) copyinMessage(m *Message, de *entry) error {
	dst, dd, err := t.copyinEntry(m.Dest, de, m.DestDisp, roleDest)
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	var rep xright
	var rd Disposition
	if m.Reply != NameNull {
		if rep, rd, err = t.copyin(m.Reply, m.ReplyDisp, roleReply); err != nil {
			t.untake(m.Dest, dd, dst)
			return fmt.Errorf("send: reply port: %w", err)
		}
	}
	var xrs []xright
	if len(m.Rights) > 0 {
		xrs = make([]xright, len(m.Rights))
		for i, r := range m.Rights {
			x, d, err := t.copyin(r.Name, r.Disp, roleCarried)
			if err != nil {
				for j := i - 1; j >= 0; j-- {
					t.untake(m.Rights[j].Name, m.Rights[j].Disp, xrs[j])
				}
				if m.Reply != NameNull {
					t.untake(m.Reply, rd, rep)
				}
				t.untake(m.Dest, dd, dst)
				return fmt.Errorf("send: right %d: %w", i, err)
			}
			m.Rights[i].Disp = d
			xrs[i] = x
		}
	}
	// The destination right itself is consumed by the send: a copied or made
	// send right was counted by copyin and is released here.
	t.commit(m.Dest, dd, dst)
	if m.Reply != NameNull {
		t.commit(m.Reply, rd, rep)
	}
	for i, r := range m.Rights {
		t.commit(r.Name, r.Disp, xrs[i])
	}
	m.dst, m.rep, m.xrs = dst.p, rep, xrs
	m.destKind = dst.kind
	return nil
}

// consumeDest releases the destination right that travelled with the
// message to its own port: a send reference is released, a send-once right
// is used up (it produces no send-once notification). node.mu held.
func (t *Task) consumeDest(x xright) {
	switch x.kind {
	case RightSend:
		x.p.releaseSend()
	case RightSendOnce:
		x.p.sonces--
	}
}

// Receive takes the next message from the port or port set named name,
// blocking until one arrives or ctx ends.
func (t *Task) Receive(ctx context.Context, name Name) (*Message, error) {
	t.safePoint()
	if t.rec.p.Load() != nil {
		return t.recorded(func() (*Message, error) { return t.receive(ctx, name) })
	}
	return t.receive(ctx, name)
}

func (t *Task) receive(ctx context.Context, name Name) (*Message, error) {
	var w recvWait
	for {
		m, err := t.tryReceive(name, &w, ctx.Err() == nil)
		if m != nil || err != nil {
			return m, err
		}
		if w.read {
			t.readLink(ctx, &w)
			continue
		}
		if err := t.waitReceive(ctx, &w); err != nil {
			t.node.mu.Lock()
			w.release()
			t.node.mu.Unlock()
			return nil, err
		}
	}
}

// TryReceive returns the next message, or ErrTimedOut at once if none waits.
func (t *Task) TryReceive(name Name) (*Message, error) {
	t.safePoint()
	if t.rec.p.Load() != nil {
		return t.recorded(func() (*Message, error) { return t.tryReceiveNow(name) })
	}
	return t.tryReceiveNow(name)
}

// tryReceiveNow is TryReceive without the safe point and the recorder.
func (t *Task) tryReceiveNow(name Name) (*Message, error) {
	var w recvWait
	m, err := t.tryReceive(name, &w, false)
	if m == nil && err == nil {
		return nil, fmt.Errorf("receive on %d: %w: no message", name, ErrTimedOut)
	}
	return m, err
}

// ReceiveTimeout is Receive bounded by d on the node's clock.
func (t *Task) ReceiveTimeout(ctx context.Context, name Name, d time.Duration) (*Message, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := t.node.cfg.Clock.AfterFunc(d, func() { cancel(ErrTimedOut) })
	defer timer.Stop()
	return t.Receive(ctx, name)
}

// tryReceive takes the next message. When there is none it fills in w:
// what to wait on, or the link to read (mayRead: the receiver can wait).
func (t *Task) tryReceive(name Name, w *recvWait, mayRead bool) (*Message, error) {
	t.node.mu.Lock()
	defer t.node.mu.Unlock()
	if t.dead {
		w.release()
		return nil, ErrTaskDead
	}
	e, err := t.lookup(name)
	if err != nil {
		w.release()
		return nil, fmt.Errorf("receive: %w", err)
	}
	var p *port
	switch {
	case e.set != nil:
		p, w.wake = e.set.ready(), e.set.wakeCh
		if p == nil {
			w.settle(nil, false)
			return nil, nil
		}
	case e.recv:
		p, w.wake = e.p, e.p.recvWake
		if p.q.n == 0 {
			w.settle(p, mayRead)
			return nil, nil
		}
	default:
		w.release()
		return nil, fmt.Errorf("receive on %d: %w: not a receive right or port set", name, ErrInvalidRight)
	}
	w.release()
	m := p.dequeue()
	if e.set != nil && e.set.pending() {
		e.set.wake() // another receiver of the set may be waiting
	}
	t.copyoutMessage(m, p)
	return m, nil
}

// copyoutMessage gives the receiver the rights the message carries and
// rewrites the header with the receiver's names. node.mu held.
func (t *Task) copyoutMessage(m *Message, p *port) {
	m.Dest = p.recvName
	m.Reply, m.ReplyType = NameNull, RightNone
	if m.rep.p != nil {
		m.Reply, m.ReplyType = t.copyout(m.rep)
	}
	for i, x := range m.xrs {
		m.Rights[i].Name, m.Rights[i].Type = t.copyout(x)
	}
	m.dst, m.rep, m.xrs = nil, xright{}, nil
}

// waitReceive blocks a receiver until wake. With a ctx that cannot end it
// waits on wake alone, without a select (the local RPC fast path): the
// task's end still reaches it, because terminating destroys the task's
// receive rights and port sets, which closes their wake channels, and
// moving a receive right out of the task pokes its channel (take). The
// caller's retry then sees ErrTaskDead or ErrInvalidName.
//
// While a link that feeds the port is read by someone else, the receiver
// also waits for that link's token (w.holding), to read the link itself.
func (t *Task) waitReceive(ctx context.Context, w *recvWait) error {
	if w.lr != nil {
		return t.waitReceiveOrToken(ctx, w)
	}
	if ctx.Done() == nil {
		h := t.enterBlocked()
		<-w.wake
		h.leave()
		return nil
	}
	return t.block(ctx, w.wake, "receive")
}

// waitReceiveOrToken is waitReceive that also takes the token of the link
// feeding the port when it comes free.
func (t *Task) waitReceiveOrToken(ctx context.Context, w *recvWait) error {
	defer t.enterBlocked().leave()
	select {
	case <-w.wake:
		return nil
	case w.lr.tok <- struct{}{}:
		w.holding = true
		return nil
	case <-t.done:
		return ErrTaskDead
	case <-ctx.Done():
		return ctxErr(ctx, "receive")
	}
}

// block waits for wake, ctx or the task's end (a safe point meanwhile).
func (t *Task) block(ctx context.Context, wake chan struct{}, op string) error {
	defer t.enterBlocked().leave()
	select {
	case <-wake:
		return nil
	case <-t.done:
		return ErrTaskDead
	case <-ctx.Done():
		return ctxErr(ctx, op)
	}
}

// ctxErr maps a context's end to the kernel's errors.
func ctxErr(ctx context.Context, op string) error {
	cause := context.Cause(ctx)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(cause, ErrTimedOut) {
		return fmt.Errorf("%s: %w", op, ErrTimedOut)
	}
	return fmt.Errorf("%s: %w", op, ctx.Err())
}
