package kernel

import (
	"context"
	"crypto/rand"

	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/clock"
	"github.com/ftm-in-go/ftm/kernel/link"
)

// The netmsg service (Mach's netmsgserver): port messages to a port on
// another node are proxied over the link to that node. A port that is
// reachable from a peer is exported under a random 128-bit identifier; the
// peer holds a proxy port for it, and sending to the proxy forwards the
// message. Send and send-once rights travel as identifiers; receive rights
// never leave their node (ErrInvalidRight).
//
// Reference counting across nodes: every send right handed to a peer adds
// one reference held by the export; when the peer's proxy has no local
// holders left it tells us (kindRelease) and those references are released,
// so no-senders works across nodes. When a link is lost, its proxies become
// dead names after Config.LinkTimeout, and its exports release their rights.

// Frame kinds on link.ServicePorts.
const (
	kindMsg         uint8 = 1 // a port message
	kindDead        uint8 = 2 // the port with this id is dead or unknown
	kindRelease     uint8 = 3 // the peer dropped its proxy: release N references
	kindLookup      uint8 = 4 // resolve a registered name
	kindLookupReply uint8 = 5
)

// proxy marks a port that stands for a port on another node.
type proxy struct {
	peer    string
	id      portID
	granted int // send references the home node holds for us
}

// portID is a node-independent, unguessable port identifier.
type portID [16]byte

func newPortID() portID {
	var id portID
	_, _ = rand.Read(id[:])
	return id
}

// export is a local port reachable from one peer. Guarded by node.mu.
type export struct {
	p        *port
	refs     int  // send references held on the peer's behalf
	sendOnce bool // a one-shot export for a send-once right
}

// peerState is everything netmsg keeps for one peer. Guarded by node.mu.
type peerState struct {
	name    string
	l       link.Link
	lr      *linkReader // l's reading (linkread.go)
	exports map[portID]*export
	byPort  map[*port]portID             // send exports, one id per port
	proxies map[portID]*port             // proxies for the peer's ports
	lookups map[uint64]chan lookupResult // pending name lookups, sent over l
	death   clock.Timer                  // pending dead-name conversion after link loss
	// releases owed to the peer for proxies dropped while the link was
	// down; sent when a link is attached again in time.
	owed map[portID]int
}

// lookupResult answers a pending lookup; a closed channel without one
// means the link it was sent over is gone.
type lookupResult struct {
	right wireRight
	found bool
}

// failLookups ends the lookups pending on the peer's current link.
// node.mu held.
func (ps *peerState) failLookups() {
	for req, ch := range ps.lookups {
		close(ch)
		delete(ps.lookups, req)
	}
}

type netmsg struct {
	n        *Node
	bufs     sync.Pool             // *[]byte: frame bodies being encoded
	peers    map[string]*peerState // guarded by node.mu
	registry map[string]*port      // names published with Register; guarded by node.mu
	nextReq  uint64                // guarded by node.mu
	wg       sync.WaitGroup
}

func newNetmsg(n *Node) *netmsg {
	nm := &netmsg{n: n, peers: map[string]*peerState{}, registry: map[string]*port{}}
	nm.bufs.New = func() any { return new([]byte) }
	return nm
}

// wireEncodable is a wire form that encodes itself (netmsg_wire.go).
type wireEncodable interface {
	appendTo(dst []byte) []byte
}

// wireRight is a right on the wire: the identifier of a port homed at Home.
type wireRight struct {
	ID   portID    `codec:"i"`
	Home string    `codec:"h"`
	Kind RightType `codec:"k"`
}

type wireMsg struct {
	Dest   portID      `codec:"d"`
	Reply  *wireRight  `codec:"r,omitempty"`
	ID     uint32      `codec:"n"`
	RU     uint64      `codec:"u"`
	From   uint64      `codec:"f,omitempty"` // Message.SenderID
	Seq    uint64      `codec:"q,omitempty"` // Message.SenderSeq
	Body   []byte      `codec:"b"`
	Rights []wireRight `codec:"x,omitempty"`
	OOL    [][]byte    `codec:"o,omitempty"`
}

type wireCtl struct {
	ID    portID    `codec:"i,omitempty"`
	N     int       `codec:"n,omitempty"`
	Req   uint64    `codec:"q,omitempty"`
	Name  string    `codec:"s,omitempty"`
	Right wireRight `codec:"r,omitempty"`
	Found bool      `codec:"f,omitempty"`
}

// AttachLink connects the node to a peer node over l (the caller gives it
// the link's ServicePorts channel, or a link used for nothing else). Ports
// can then be looked up on the peer and messages flow to its ports. The
// link is served until it fails or the node shuts down; a later AttachLink
// for the same peer replaces it.
func (n *Node) AttachLink(l link.Link) error {
	if l == nil {
		return fmt.Errorf("attach link: %w: nil link", ErrInvalidValue)
	}
	nm := n.net
	n.mu.Lock()
	if n.down {
		n.mu.Unlock()
		return ErrNodeDown
	}
	ps := nm.peers[l.Peer()]
	if ps == nil {
		ps = &peerState{name: l.Peer(), exports: map[portID]*export{}, byPort: map[*port]portID{},
			proxies: map[portID]*port{}, lookups: map[uint64]chan lookupResult{}}
		nm.peers[l.Peer()] = ps
	}
	if ps.death != nil {
		ps.death.Stop()
		ps.death = nil
	}
	old := ps.lr
	ps.l, ps.lr = l, newLinkReader(ps, l)
	ps.failLookups() // their requests went over the old link
	nm.payOwed(ps)
	nm.wg.Add(1) // under n.mu: a Shutdown that closes l also waits for serve
	lr := ps.lr
	if old != nil {
		old.dead = true // its readers leave it to its standby
	}
	n.mu.Unlock()
	if old != nil {
		_ = old.l.Close()
	}
	n.log.Info("link attached", zap.String("peer", l.Peer()))
	go nm.serve(lr)
	return nil
}

// handle decodes one frame from the peer and acts on it. The frame's body
// is owned by the message built from it (the link hands it over).
func (nm *netmsg) handle(lr *linkReader, f link.Frame) error {
	switch f.Kind {
	case kindMsg:
		var w wireMsg
		if err := decodeWireMsg(f.Body, &w); err != nil {
			return err
		}
		return nm.deliver(lr, &w)
	case kindDead, kindRelease, kindLookup, kindLookupReply:
		var c wireCtl
		if err := decodeWireCtl(f.Body, &c); err != nil {
			return err
		}
		nm.control(lr.ps, lr.l, f.Kind, &c)
		return nil
	}
	return fmt.Errorf("unknown frame kind %d", f.Kind)
}

// linkLost ends a link: after the link timeout, unless a new link for the
// peer was attached, the peer's proxies die and its exports are released.
// Both the standby and a reading task may report the same end.
func (nm *netmsg) linkLost(lr *linkReader, cause error) {
	n := nm.n
	n.mu.Lock()
	defer n.mu.Unlock()
	lr.dead = true
	ps := lr.ps
	if ps.l != lr.l {
		return // replaced, or reported already
	}
	ps.l, ps.lr = nil, nil
	ps.failLookups()
	if n.down {
		nm.peerDead(ps)
		return
	}
	n.log.Warn("link lost", zap.String("peer", ps.name), zap.Error(cause), zap.Duration("dead_after", n.cfg.LinkTimeout))
	ps.death = n.cfg.Clock.AfterFunc(n.cfg.LinkTimeout, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if ps.l == nil {
			nm.peerDead(ps)
		}
	})
}

// peerDead turns the peer's proxies into dead names and releases what its
// exports held. node.mu held.
func (nm *netmsg) peerDead(ps *peerState) {
	nm.n.log.Warn("peer's ports are now dead names", zap.String("peer", ps.name), zap.Int("proxies", len(ps.proxies)))
	for id, p := range ps.proxies {
		delete(ps.proxies, id)
		p.remote = nil
		p.destroy()
	}
	for id, e := range ps.exports {
		delete(ps.exports, id)
		nm.releaseExport(e)
	}
	ps.byPort = map[*port]portID{}
	ps.owed = nil // the peer's exports die with its side of the link
	ps.death = nil
}

func (nm *netmsg) releaseExport(e *export) {
	if e.sendOnce {
		e.p.releaseSendOnce()
		return
	}
	for ; e.refs > 0; e.refs-- {
		e.p.releaseSend()
	}
}

func (nm *netmsg) shutdown() {
	n := nm.n
	n.mu.Lock()
	var links []link.Link
	for _, ps := range nm.peers {
		if ps.l != nil {
			links = append(links, ps.l)
		}
		if ps.death != nil {
			ps.death.Stop()
		}
	}
	n.mu.Unlock()
	for _, l := range links {
		_ = l.Close()
	}
	nm.wg.Wait()
}

// checkRemotable refuses a message to a remote port that would carry a
// receive right off its node. node.mu held, before copyin.
func checkRemotable(m *Message) error {
	if m.Reply != NameNull && m.ReplyDisp == MoveReceive {
		return fmt.Errorf("send to a remote port: %w: receive rights cannot leave their node", ErrInvalidRight)
	}
	for _, r := range m.Rights {
		if r.Disp == MoveReceive {
			return fmt.Errorf("send to a remote port: %w: receive rights cannot leave their node", ErrInvalidRight)
		}
	}
	return nil
}

// forward sends a message whose rights are in transit to the proxy p's
// home node. The message is consumed whatever happens: on a lost link it is
// dropped, like a datagram to a dead machine, and its rights released.
func (nm *netmsg) forward(ctx context.Context, p *port, m *Message) error {
	n := nm.n
	n.mu.Lock()
	if p.remote == nil || p.dead { // the peer died since the rights were copied in
		n.destroyMessage(m)
		n.mu.Unlock()
		return fmt.Errorf("send to remote port: %w", ErrPortDead)
	}
	ps := nm.peers[p.remote.peer]
	w := nm.toWire(ps, p, m)
	l := ps.l
	n.mu.Unlock()
	if l == nil {
		return fmt.Errorf("send to remote port: %w: link to %s is down", ErrPortDead, ps.name)
	}
	return nm.sendWire(ctx, l, kindMsg, w)
}

// forwardLocked forwards a kernel notification to a remote port. node.mu held.
func (nm *netmsg) forwardLocked(m *Message) {
	p := m.dst
	ps := nm.peers[p.remote.peer]
	w := nm.toWire(ps, p, m)
	if l := ps.l; l != nil {
		nm.async(func() { _ = nm.sendWire(nm.n.ctx, l, kindMsg, w) })
	}
}

// async runs a frame send that must not happen under node.mu; Shutdown
// waits for it.
func (nm *netmsg) async(f func()) {
	nm.wg.Add(1)
	go func() {
		defer nm.wg.Done()
		f()
	}()
}

// toWire translates a message in transit for the peer and consumes its
// local rights. node.mu held.
func (nm *netmsg) toWire(ps *peerState, p *port, m *Message) *wireMsg {
	w := &wireMsg{Dest: p.remote.id, ID: m.ID, RU: m.RU, From: m.SenderID, Seq: m.SenderSeq, Body: m.Body, OOL: m.OOL}
	if m.rep.p != nil {
		r := nm.exportRight(ps, m.rep)
		w.Reply = &r
	}
	for _, x := range m.xrs {
		if x.kind == RightReceive { // only a port-destroyed notification carries one
			nm.n.releaseTransit(x)
			continue
		}
		w.Rights = append(w.Rights, nm.exportRight(ps, x))
	}
	if m.destKind == RightSendOnce {
		p.sonces--
		nm.proxyUnused(p)
	} else if m.destKind == RightSend {
		p.releaseSend()
	}
	m.dst, m.rep, m.xrs = nil, xright{}, nil
	return w
}

// exportRight turns a right in transit into its wire form. A right to one
// of the peer's own ports goes home as its identifier; a local port is
// exported. node.mu held.
func (nm *netmsg) exportRight(ps *peerState, x xright) wireRight {
	p := x.p
	if p.remote != nil {
		r := wireRight{ID: p.remote.id, Home: p.remote.peer, Kind: x.kind}
		nm.handedHome(x)
		return r
	}
	r := wireRight{Home: nm.n.cfg.Name, Kind: x.kind}
	p.feed = ps.lr // what comes back to p comes over ps's link
	if x.kind == RightSendOnce {
		r.ID = newPortID()
		ps.exports[r.ID] = &export{p: p, sendOnce: true} // holds the transit send-once
		return r
	}
	id, ok := ps.byPort[p]
	if !ok {
		id = newPortID()
		ps.byPort[p] = id
		ps.exports[id] = &export{p: p}
	}
	ps.exports[id].refs++ // the transit send reference now belongs to the export
	r.ID = id
	return r
}

// sendWire encodes v into a pooled buffer and sends it (the link does not
// keep a frame's body after Send returns).
func (nm *netmsg) sendWire(ctx context.Context, l link.Link, kind uint8, v wireEncodable) error {
	buf := nm.bufs.Get().(*[]byte)
	body := v.appendTo((*buf)[:0])
	err := l.Send(ctx, link.Frame{Service: link.ServicePorts, Kind: kind, Body: body})
	if cap(body) <= 64<<10 { // do not pin a large message's buffer
		*buf = body
		nm.bufs.Put(buf)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctxErr(ctx, "send to remote port")
		}
		return fmt.Errorf("send to remote port: %w: %v", ErrPortDead, err)
	}
	return nil
}

// deliverResult is what tryDeliver did with a message.
type deliverResult int

const (
	delivered   deliverResult = iota
	deliverDead               // no such port (any more): the peer must be told
	deliverFull               // the port's queue is full: wait for room
)

// tryDeliver queues a message from the peer on its local port if there is
// room. node.mu held.
func (nm *netmsg) tryDeliver(lr *linkReader, w *wireMsg) deliverResult {
	ps := lr.ps
	e := ps.exports[w.Dest]
	if e == nil || e.p.dead {
		delete(ps.exports, w.Dest)
		return deliverDead
	}
	if e.sendOnce || e.p.q.n < e.p.limit {
		e.p.feed = lr
		nm.enqueueFromWire(ps, e, w)
		return delivered
	}
	return deliverFull
}

// deliver queues a message from the peer on a local port, waiting while
// the port's queue is full (the link is flow-controlled by its receivers).
func (nm *netmsg) deliver(lr *linkReader, w *wireMsg) error {
	n := nm.n
	for {
		n.mu.Lock()
		switch nm.tryDeliver(lr, w) {
		case delivered:
			n.mu.Unlock()
			return nil
		case deliverDead:
			n.mu.Unlock()
			return nm.sendWire(n.ctx, lr.l, kindDead, &wireCtl{ID: w.Dest})
		}
		p := lr.ps.exports[w.Dest].p
		if p.sendWake == nil {
			p.sendWake = make(chan struct{})
		}
		p.sendWait++
		wake := p.sendWake
		n.mu.Unlock()
		select {
		case <-wake:
		case <-n.ctx.Done():
		}
		n.mu.Lock()
		p.sendWait--
		n.mu.Unlock()
		if n.ctx.Err() != nil {
			return nil
		}
	}
}

// enqueueFromWire builds the local message and queues it. node.mu held.
func (nm *netmsg) enqueueFromWire(ps *peerState, e *export, w *wireMsg) {
	m := NewMessage() // recycled if its receiver frees it
	*m = Message{ID: w.ID, RU: w.RU, SenderID: w.From, SenderSeq: w.Seq, Body: w.Body, OOL: w.OOL, dst: e.p}
	if e.sendOnce { // used up by this message: the rights it carries cannot name it again
		delete(ps.exports, w.Dest)
	}
	if w.Reply != nil {
		m.rep = nm.importRight(ps, *w.Reply)
	}
	if len(w.Rights) > 0 {
		m.Rights = make([]PortRight, len(w.Rights))
		m.xrs = make([]xright, len(w.Rights))
		for i, r := range w.Rights {
			m.xrs[i] = nm.importRight(ps, r)
		}
	}
	e.p.enqueue(m)
	if e.sendOnce {
		e.p.sonces-- // the one-shot right is used up
	}
}

// importRight turns a wire right into a right in transit on this node.
// node.mu held.
func (nm *netmsg) importRight(ps *peerState, r wireRight) xright {
	if r.Kind != RightSend && r.Kind != RightSendOnce {
		// Only send and send-once rights travel; anything else from a peer
		// is refused (a receive right must never be conjured up).
		nm.n.log.Warn("peer sent a right of a kind that cannot travel", zap.String("peer", ps.name), zap.Stringer("kind", r.Kind))
		return nm.deadTransit(RightSend)
	}
	if r.Home == nm.n.cfg.Name {
		if e := ps.exports[r.ID]; e != nil && !e.p.dead {
			if e.sendOnce { // the one-shot right comes home: the export's right is the one in transit
				delete(ps.exports, r.ID)
				return xright{p: e.p, kind: RightSendOnce}
			}
			if r.Kind == RightSendOnce {
				e.p.sonces++
			} else {
				e.p.srefs++
			}
			return xright{p: e.p, kind: r.Kind}
		}
		return nm.deadTransit(r.Kind)
	}
	if r.Home != ps.name {
		nm.n.log.Warn("right homed on a third node dropped", zap.String("home", r.Home))
		return nm.deadTransit(r.Kind)
	}
	p := ps.proxies[r.ID]
	if p == nil || r.Kind == RightSendOnce {
		p = nm.n.newPort()
		p.remote = &proxy{peer: ps.name, id: r.ID}
		if r.Kind != RightSendOnce {
			ps.proxies[r.ID] = p
		}
	}
	if r.Kind == RightSendOnce {
		p.sonces++
	} else {
		p.srefs++
		p.remote.granted++
	}
	return xright{p: p, kind: r.Kind}
}

// handedHome drops the local side of a right to a proxy that travels home
// as the peer's own identifier. It is moved, not destroyed: a send-once
// right must not fire a send-once notification here (it would reach the
// home port beside the right itself and use up its one-shot export).
// node.mu held.
func (nm *netmsg) handedHome(x xright) {
	if x.kind != RightSendOnce {
		nm.n.releaseTransit(x)
		return
	}
	x.p.sonces--
	nm.proxyUnused(x.p)
}

// deadTransit is a right to a port that no longer exists: it arrives as a
// dead name.
func (nm *netmsg) deadTransit(kind RightType) xright {
	p := nm.n.newPort()
	p.dead = true
	delete(nm.n.ports, p)
	if kind == RightSendOnce {
		p.sonces++
	} else {
		p.srefs++
	}
	return xright{p: p, kind: kind}
}

// proxyUnused is called when a proxy may have no rights left on this node:
// it is dropped and the home node releases what it held for us. node.mu held.
func (nm *netmsg) proxyUnused(p *port) {
	if p.srefs > 0 || p.sonces > 0 || p.dead {
		return
	}
	ps := nm.peers[p.remote.peer]
	granted := p.remote.granted
	if ps.proxies[p.remote.id] == p {
		delete(ps.proxies, p.remote.id)
	}
	id := p.remote.id
	p.remote = nil
	p.destroy()
	if granted > 0 {
		if ps.owed == nil {
			ps.owed = map[portID]int{}
		}
		ps.owed[id] += granted
		nm.payOwed(ps)
	}
}

// payOwed sends the peer the releases owed to it, if its link is up.
// node.mu held.
func (nm *netmsg) payOwed(ps *peerState) {
	l := ps.l
	if l == nil {
		return
	}
	for id, k := range ps.owed {
		delete(ps.owed, id)
		nm.async(func() { _ = nm.sendWire(nm.n.ctx, l, kindRelease, &wireCtl{ID: id, N: k}) })
	}
}

// proxyDead is called when a proxy port is destroyed.
func (nm *netmsg) proxyDead(p *port) {}

// control handles the small control frames. Runs on the link's goroutine.
func (nm *netmsg) control(ps *peerState, l link.Link, kind uint8, c *wireCtl) {
	n := nm.n
	n.mu.Lock()
	defer n.mu.Unlock()
	switch kind {
	case kindDead:
		if p := ps.proxies[c.ID]; p != nil {
			delete(ps.proxies, c.ID)
			p.remote = nil
			p.destroy()
		}
	case kindRelease:
		if e := ps.exports[c.ID]; e != nil && !e.sendOnce && c.N > 0 { // a hostile N <= 0 would inflate refs
			k := min(c.N, e.refs)
			e.refs -= k
			for ; k > 0; k-- {
				e.p.releaseSend()
			}
		}
	case kindLookup:
		reply := wireCtl{Req: c.Req}
		if p := nm.registry[c.Name]; p != nil && !p.dead {
			p.srefs++
			reply.Right, reply.Found = nm.exportRight(ps, xright{p: p, kind: RightSend}), true
		}
		nm.async(func() { _ = nm.sendWire(n.ctx, l, kindLookupReply, &reply) })
	case kindLookupReply:
		if ch := ps.lookups[c.Req]; ch != nil {
			delete(ps.lookups, c.Req)
			ch <- lookupResult{right: c.Right, found: c.Found}
			close(ch)
		} else if c.Found { // its caller gave up: hand the right back
			nm.dropWire(ps, c.Right)
		}
	}
}

// dropWire releases a right that arrived for no one: imported and dropped
// at once, so a proxy's references go back to the home node. node.mu held.
func (nm *netmsg) dropWire(ps *peerState, r wireRight) {
	nm.n.releaseTransit(nm.importRight(ps, r))
}

// Register publishes a send right to the port named name in t under key,
// so tasks on peer nodes can find it with Lookup.
func (t *Task) Register(key string, name Name) error {
	return t.withEntry(name, func(e *entry) error {
		if e.p == nil || e.p.dead || e.p.remote != nil || (!e.recv && e.send == 0) {
			return fmt.Errorf("register %q: %w: need a receive or send right to a local port", key, ErrInvalidRight)
		}
		nm := t.node.net
		if old := nm.registry[key]; old != nil {
			old.releaseSend()
		}
		e.p.srefs++ // the registry holds a send right
		nm.registry[key] = e.p
		return nil
	})
}

// Lookup finds the port registered under key on node peer (this node when
// peer is its own name) and gives t a send right to it.
func (t *Task) Lookup(ctx context.Context, peer, key string) (Name, error) {
	n := t.node
	if peer == n.cfg.Name {
		return t.lookupLocal(key)
	}
	if err := t.lock(); err != nil {
		return NameNull, err
	}
	ps := n.net.peers[peer]
	if ps == nil || ps.l == nil {
		t.unlock()
		return NameNull, fmt.Errorf("lookup %q on %s: %w", key, peer, ErrNoLink)
	}
	n.net.nextReq++
	req, ch, l := n.net.nextReq, make(chan lookupResult, 1), ps.l
	ps.lookups[req] = ch
	lr := ps.lr
	t.unlock()
	lr.wakeStandby() // the answer is read by a reading task or the standby
	if err := n.net.sendWire(ctx, l, kindLookup, &wireCtl{Req: req, Name: key}); err != nil {
		n.mu.Lock()
		delete(ps.lookups, req)
		n.mu.Unlock()
		return NameNull, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return NameNull, fmt.Errorf("lookup %q on %s: %w: the link was lost or replaced", key, peer, ErrNoLink)
		}
		if !r.found {
			return NameNull, fmt.Errorf("lookup %q on %s: %w", key, peer, ErrNotRegistered)
		}
		return t.adoptWire(ps, r.right)
	case <-ctx.Done():
		n.mu.Lock()
		delete(ps.lookups, req)
		select { // answered meanwhile: hand the right back
		case r, ok := <-ch:
			if ok && r.found {
				n.net.dropWire(ps, r.right)
			}
		default:
		}
		n.mu.Unlock()
		return NameNull, ctxErr(ctx, "lookup")
	}
}

func (t *Task) lookupLocal(key string) (Name, error) {
	if err := t.lock(); err != nil {
		return NameNull, err
	}
	defer t.unlock()
	p := t.node.net.registry[key]
	if p == nil || p.dead {
		return NameNull, fmt.Errorf("lookup %q: %w", key, ErrNotRegistered)
	}
	p.srefs++
	name, _ := t.copyout(xright{p: p, kind: RightSend})
	return name, nil
}

func (t *Task) adoptWire(ps *peerState, r wireRight) (Name, error) {
	t.node.mu.Lock()
	defer t.node.mu.Unlock()
	if t.dead { // terminated while waiting: hand the right back
		t.node.net.dropWire(ps, r)
		return NameNull, ErrTaskDead
	}
	x := t.node.net.importRight(ps, r)
	name, typ := t.copyout(x)
	if typ == RightDeadName {
		return name, fmt.Errorf("lookup: %w", ErrPortDead)
	}
	return name, nil
}

// Peers lists the nodes this node has a link to.
func (n *Node) Peers() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for name, ps := range n.net.peers {
		if ps.l != nil {
			out = append(out, name)
		}
	}
	return out
}
