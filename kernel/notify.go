package kernel

import (
	"encoding/binary"
	"fmt"
)

// NotifyKind selects a notification (Mach's MACH_NOTIFY_*). The message ID
// of a notification is its kind; its Body holds the name concerned (4
// bytes, big-endian) in the receiver's space of the requesting task.
type NotifyKind uint32

// Notifications, with Mach's message ids.
const (
	// NotifyPortDestroyed: the receive right (requested on) would have been
	// destroyed; it arrives instead in Rights[0] of the notification.
	NotifyPortDestroyed NotifyKind = 0105
	// NotifyNoSenders: the last send right to the port (requested on) is gone.
	NotifyNoSenders NotifyKind = 0106
	// NotifySendOnce: a send-once right to the port was destroyed unused.
	NotifySendOnce NotifyKind = 0107
	// NotifyDeadName: the port behind a send right (requested on) died; the
	// body names the now-dead name.
	NotifyDeadName NotifyKind = 0110
)

func (k NotifyKind) String() string {
	switch k {
	case NotifyPortDestroyed:
		return "port-destroyed"
	case NotifyNoSenders:
		return "no-senders"
	case NotifySendOnce:
		return "send-once"
	case NotifyDeadName:
		return "dead-name"
	}
	return fmt.Sprintf("notify(%d)", uint32(k))
}

// NotifyName decodes the name a notification is about.
func NotifyName(m *Message) Name {
	if m == nil || len(m.Body) < 4 {
		return NameNull
	}
	return Name(binary.BigEndian.Uint32(m.Body))
}

// notify queues a kernel notification on target, consuming the send-once
// right the kernel held for it (send-once notifications about target itself
// hold none). Notifications ignore queue limits. node.mu held.
func (n *Node) notify(target *port, kind NotifyKind, name Name, carry *xright) {
	if kind != NotifySendOnce {
		target.sonces--
	}
	if target.dead {
		if carry != nil {
			n.releaseTransit(*carry)
		}
		return
	}
	m := &Message{ID: uint32(kind), Body: binary.BigEndian.AppendUint32(nil, uint32(name)), dst: target, destKind: RightNone}
	if carry != nil {
		m.Rights = []PortRight{{}}
		m.xrs = []xright{*carry}
	}
	if target.remote != nil {
		n.net.forwardLocked(m)
		if target.remote != nil && kind != NotifySendOnce { // the kernel's right may have been its last
			n.net.proxyUnused(target)
		}
		return
	}
	target.enqueue(m)
}

// RequestNotification asks for kind about name, delivered to the port whose
// receive right (or send right) is notify in this task:
//   - NotifyDeadName: name is a send or send-once right; fires at once if
//     the port is already dead;
//   - NotifyNoSenders, NotifyPortDestroyed: name is a receive right.
func (t *Task) RequestNotification(name Name, kind NotifyKind, notify Name) error {
	return t.withEntry(name, func(e *entry) error {
		ne, err := t.lookup(notify)
		if err != nil {
			return fmt.Errorf("notify port: %w", err)
		}
		if ne.p == nil || (!ne.recv && ne.send == 0) || ne.p.dead {
			return fmt.Errorf("notify port %d: %w", notify, ErrInvalidRight)
		}
		target := ne.p
		t.settle(e)
		switch kind {
		case NotifyDeadName:
			return t.requestDeadName(name, e, target)
		case NotifyNoSenders, NotifyPortDestroyed:
			if !e.recv {
				return fmt.Errorf("%s on %d: %w: not a receive right", kind, name, ErrInvalidRight)
			}
			target.sonces++
			t.armReceiveNotify(e.p, kind, target)
			return nil
		}
		return fmt.Errorf("notification %d: %w", kind, ErrInvalidValue)
	})
}

func (t *Task) armReceiveNotify(p *port, kind NotifyKind, target *port) {
	slot := &p.noSenders
	if kind == NotifyPortDestroyed {
		slot = &p.destroyed
	}
	if *slot != nil {
		(*slot).dropKernelSendOnce() // the old request is replaced
	}
	*slot = target
	if kind == NotifyNoSenders && p.srefs == 0 {
		p.noSenders = nil
		t.node.notify(target, NotifyNoSenders, p.recvName, nil)
	}
}

func (t *Task) requestDeadName(name Name, e *entry, target *port) error {
	if e.p == nil || (e.send == 0 && !e.sendOnce && e.dead == 0) {
		return fmt.Errorf("dead-name on %d: %w: not a send right", name, ErrInvalidRight)
	}
	target.sonces++
	if e.dead > 0 {
		t.node.notify(target, NotifyDeadName, name, nil)
		return nil
	}
	if e.deadReq { // a new request replaces the old one
		for i, r := range e.p.deadReqs {
			if r.t == t && r.name == name {
				r.notify.dropKernelSendOnce() // the old request's send-once right, never used
				e.p.deadReqs[i].notify = target
			}
		}
		return nil
	}
	e.deadReq = true
	e.p.deadReqs = append(e.p.deadReqs, deadReq{t: t, name: name, notify: target})
	return nil
}

// deadNameFired delivers a dead-name notification. node.mu held.
func (t *Task) deadNameFired(r deadReq, p *port) {
	e := t.names[r.name]
	if e != nil {
		e.deadReq = false
	}
	if t.dead || e == nil {
		r.notify.dropKernelSendOnce()
		return
	}
	t.node.notify(r.notify, NotifyDeadName, r.name, nil)
}

// cancelDeadReq drops the dead-name request (t, name) on p, whose right the
// task gave up. node.mu held.
func (p *port) cancelDeadReq(t *Task, name Name) {
	for i, r := range p.deadReqs {
		if r.t == t && r.name == name {
			r.notify.releaseSendOnce()
			p.deadReqs = append(p.deadReqs[:i], p.deadReqs[i+1:]...)
			return
		}
	}
}

// dropKernelSendOnce releases a send-once right the kernel held for a
// notification request that is replaced or cancelled without a message
// (no send-once notification). node.mu held.
func (p *port) dropKernelSendOnce() {
	p.sonces--
	if p.remote != nil {
		p.node.net.proxyUnused(p)
	}
}
