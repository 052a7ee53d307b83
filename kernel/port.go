package kernel

// port is a kernel message queue. All fields are guarded by node.mu.
type port struct {
	node     *Node
	receiver *Task // holds the receive right; nil while in transit or dead
	recvName Name  // the receive right's name in receiver's space
	dead     bool

	q      queue
	limit  int
	seqno  uint64
	srefs  int // send rights in existence: references in name spaces + in transit
	sonces int // send-once rights in existence
	set    *portSet

	recvWake chan struct{} // cap 1: a receiver may find a message
	sendWake chan struct{} // closed when queue space frees, if senders wait
	sendWait int           // senders blocked on a full queue

	noSenders *port // notify port for no-senders (holds a send-once), or nil
	destroyed *port // notify port for port-destroyed, or nil
	deadReqs  []deadReq
	remote    *proxy // set for a proxy of a port on another node

	feed    *linkReader // the link messages to p last came over (or were exported to go over)
	reading *linkReader // the link a task of the receiver reads for p now (linkread.go)
}

type deadReq struct {
	t      *Task
	name   Name
	notify *port // holds a send-once right on it
}

func (n *Node) newPort() *port {
	p := &port{node: n, limit: n.cfg.QueueLimit, recvWake: make(chan struct{}, 1)}
	n.ports[p] = struct{}{}
	return p
}

// queue is a FIFO of messages linked through Message.next.
type queue struct {
	head, tail *Message
	n          int
}

func (q *queue) push(m *Message) {
	m.next = nil
	if q.tail == nil {
		q.head = m
	} else {
		q.tail.next = m
	}
	q.tail = m
	q.n++
}

func (q *queue) pop() *Message {
	m := q.head
	if m == nil {
		return nil
	}
	q.head = m.next
	if q.head == nil {
		q.tail = nil
	}
	m.next = nil
	q.n--
	return m
}

// wakeReceiver signals a receiver waiting on p or on its set.
func (p *port) wakeReceiver() {
	p.interruptReader()
	if p.dead {
		return
	}
	select {
	case p.recvWake <- struct{}{}:
	default:
	}
	if p.set != nil {
		p.set.wake()
	}
}

// wakeSenders tells senders blocked on a full queue to retry.
func (p *port) wakeSenders() {
	if p.sendWait > 0 && p.sendWake != nil {
		close(p.sendWake)
		p.sendWake = nil
	}
}

// enqueue appends a message whose rights are already in transit.
func (p *port) enqueue(m *Message) {
	p.q.push(m)
	p.wakeReceiver()
}

// dequeue takes the next message and stamps its sequence number.
func (p *port) dequeue() *Message {
	m := p.q.pop()
	if m == nil {
		return nil
	}
	m.Seqno = p.seqno
	p.seqno++
	p.wakeSenders()
	if p.q.n > 0 {
		p.wakeReceiver() // another goroutine of the task may be waiting
	}
	return m
}

// releaseSend drops one send reference; no-senders fires at zero.
func (p *port) releaseSend() {
	p.srefs--
	if p.srefs == 0 && !p.dead && p.noSenders != nil {
		target := p.noSenders
		p.noSenders = nil
		p.node.notify(target, NotifyNoSenders, p.receiverName(), nil)
	}
	if p.srefs == 0 && p.remote != nil && !p.dead {
		p.node.net.proxyUnused(p)
	}
}

// releaseSendOnce drops a send-once right that was never used: the
// receiver learns of it by a send-once notification.
func (p *port) releaseSendOnce() {
	p.sonces--
	if !p.dead {
		p.node.notify(p, NotifySendOnce, p.receiverName(), nil)
	}
	if p.remote != nil {
		p.node.net.proxyUnused(p)
	}
}

func (p *port) receiverName() Name {
	if p.receiver == nil {
		return NameNull
	}
	return p.recvName
}

// destroy kills the port: its queued messages are destroyed (releasing the
// rights they carry), every name for it becomes a dead name, and dead-name
// requests fire. node.mu held.
func (p *port) destroy() {
	if p.dead {
		return
	}
	p.dead = true
	delete(p.node.ports, p)
	p.receiver, p.recvName = nil, NameNull
	if p.set != nil {
		p.set.remove(p)
	}
	for m := p.q.pop(); m != nil; m = p.q.pop() {
		p.node.destroyMessage(m)
	}
	if p.noSenders != nil {
		p.noSenders.releaseSendOnce()
		p.noSenders = nil
	}
	reqs := p.deadReqs
	p.deadReqs = nil
	for _, r := range reqs {
		r.t.deadNameFired(r, p)
	}
	if p.sendWake != nil {
		close(p.sendWake)
		p.sendWake = nil
	}
	p.interruptReader()
	close(p.recvWake) // wakes every waiting receiver for good
	if p.remote != nil {
		p.node.net.proxyDead(p)
	}
}

// destroyMessage releases the rights a message holds in transit.
func (n *Node) destroyMessage(m *Message) {
	if m.rep.p != nil {
		n.releaseTransit(m.rep)
	}
	for _, x := range m.xrs {
		n.releaseTransit(x)
	}
	m.rep, m.xrs, m.dst = xright{}, nil, nil
}

func (n *Node) releaseTransit(x xright) {
	switch x.kind {
	case RightSend:
		x.p.releaseSend()
	case RightSendOnce:
		x.p.releaseSendOnce()
	case RightReceive:
		x.p.receiveLost()
	}
}

// receiveLost handles a receive right that is being destroyed: with a
// port-destroyed request, the right goes to the notify port instead.
func (p *port) receiveLost() {
	if p.destroyed != nil && !p.destroyed.dead {
		target := p.destroyed
		p.destroyed = nil
		p.receiver, p.recvName = nil, NameNull
		if p.set != nil {
			p.set.remove(p)
		}
		p.receiverLeft()
		p.node.notify(target, NotifyPortDestroyed, NameNull, &xright{p: p, kind: RightReceive})
		return
	}
	p.destroy()
}

// receiverLeft is called when p's receive right leaves the task that held
// it (moved, or carried off in a port-destroyed notification). Closing the
// wake channel wakes every goroutine of that task blocked on p (their retry
// fails on the name); the next holder's receivers get a fresh channel, so a
// stale waiter can neither sleep for ever nor swallow their wake-up.
// node.mu held.
func (p *port) receiverLeft() {
	p.interruptReader()
	close(p.recvWake)
	p.recvWake = make(chan struct{}, 1)
}
