package kernel

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// portCount is what the name spaces and queues of a node hold of one port.
type portCount struct {
	recv, send, sonce int
}

// checkInvariants walks every name space and every queued message of n
// and checks the package's invariants: a live port has exactly one receive
// right (held or in transit), a dead one none; send and send-once counts
// equal the references held plus those in transit; nothing is negative.
func checkInvariants(n *Node) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := newCensus()
	if err := c.countNameSpaces(n); err != nil {
		return err
	}
	for p := range n.ports { // ports only reachable through their own queue too
		c.get(p)
		c.walkQueue(p)
	}
	kernelHeld(n, c.get)
	for p, pc := range c.counts {
		for _, check := range portInvariants {
			if err := check(p, pc); err != nil {
				return err
			}
		}
	}
	return nil
}

// census counts, per port, the rights held in name spaces, carried by
// queued messages and held by the kernel. node.mu held while it is filled.
type census struct {
	counts map[*port]*portCount
	walked map[*port]bool // ports whose queue has been counted
}

func newCensus() *census {
	return &census{counts: map[*port]*portCount{}, walked: map[*port]bool{}}
}

// get returns p's counts, creating them at zero.
func (c *census) get(p *port) *portCount {
	if c.counts[p] == nil {
		c.counts[p] = &portCount{}
	}
	return c.counts[p]
}

// countNameSpaces counts the rights every task's names hold, checking
// each name entry's own invariants on the way.
func (c *census) countNameSpaces(n *Node) error {
	for _, t := range n.tasks {
		for name, e := range t.names {
			if e.set != nil || e.p == nil { // port sets; dead names of ports that died in transit
				continue
			}
			if err := checkEntry(t, name, e); err != nil {
				return err
			}
			c.countEntry(e)
			c.walkQueue(e.p)
		}
	}
	return nil
}

// countEntry adds the rights one name entry holds. Send and send-once
// references to a dead port are dead names, not counted.
func (c *census) countEntry(e *entry) {
	pc := c.get(e.p)
	if e.recv {
		pc.recv++
	}
	if !e.p.dead {
		pc.send += int(e.send)
		if e.sendOnce {
			pc.sonce++
		}
	}
}

// walkQueue counts the rights carried by the messages queued on p, and
// those queued on the ports they carry, once per port.
func (c *census) walkQueue(p *port) {
	if c.walked[p] {
		return
	}
	c.walked[p] = true
	for m := p.q.head; m != nil; m = m.next {
		if m.rep.p != nil {
			c.addTransit(m.rep)
		}
		for _, x := range m.xrs {
			c.addTransit(x)
		}
	}
}

// addTransit counts one right in transit and walks its port's queue.
func (c *census) addTransit(x xright) {
	pc := c.get(x.p)
	switch x.kind {
	case RightReceive:
		pc.recv++
	case RightSend:
		pc.send++
	case RightSendOnce:
		pc.sonce++
	}
	c.walkQueue(x.p)
}

// checkEntry checks the invariants of one name entry: a name is never
// both a send right and a dead name, and a receive right's port points
// back at the task and name holding it.
func checkEntry(t *Task, name Name, e *entry) error {
	if e.send > 0 && e.dead > 0 {
		return fmt.Errorf("%s name %d is both send and dead", t, name)
	}
	if e.recv && (e.p.receiver != t || e.p.recvName != name) {
		return fmt.Errorf("%s name %d: receive right's back pointer is wrong", t, name)
	}
	return nil
}

// portInvariants are checked, in order, for every port the census counted.
var portInvariants = []func(*port, *portCount) error{
	checkOneReceiveRight,
	checkCountsNonNegative,
	checkSendCount,
	checkSendOnceCount,
}

// checkOneReceiveRight: a live port has exactly one receive right, a dead
// one none.
func checkOneReceiveRight(p *port, c *portCount) error {
	if p.dead && c.recv != 0 {
		return fmt.Errorf("dead port has %d receive rights", c.recv)
	}
	if !p.dead && c.recv != 1 {
		return fmt.Errorf("live port has %d receive rights", c.recv)
	}
	return nil
}

// checkCountsNonNegative: a live port's reference counts are never negative.
func checkCountsNonNegative(p *port, _ *portCount) error {
	if !p.dead && (p.srefs < 0 || p.sonces < 0) {
		return fmt.Errorf("negative counts: send %d, send-once %d", p.srefs, p.sonces)
	}
	return nil
}

// checkSendCount: a live port's send count equals the send rights held in
// name spaces plus those in transit.
func checkSendCount(p *port, c *portCount) error {
	if !p.dead && c.send != p.srefs {
		return fmt.Errorf("port counts %d send rights, name spaces and queues hold %d", p.srefs, c.send)
	}
	return nil
}

// checkSendOnceCount: a live port's send-once count equals the send-once
// rights held in name spaces, in transit and by armed notification requests.
func checkSendOnceCount(p *port, c *portCount) error {
	if !p.dead && c.sonce != p.sonces {
		return fmt.Errorf("port counts %d send-once rights, name spaces, queues and requests hold %d", p.sonces, c.sonce)
	}
	return nil
}

// kernelHeld counts the send-once rights the kernel holds for armed
// notification requests (no-senders, port-destroyed, dead-name) on live
// ports. node.mu held.
func kernelHeld(n *Node, get func(*port) *portCount) {
	for p := range n.ports {
		for _, target := range []*port{p.noSenders, p.destroyed} {
			if target != nil && !target.dead {
				get(target).sonce++
			}
		}
		for _, r := range p.deadReqs {
			if !r.notify.dead {
				get(r.notify).sonce++
			}
		}
	}
}

// TestRightsInvariantsProperty runs random sequences of right operations
// over a few tasks and checks the invariants after each one, then that
// every message sent to a port still alive is received exactly once.
func TestRightsInvariantsProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := NewNode(Config{Name: "prop", QueueLimit: 1 << 20})
		defer n.Shutdown()
		w := &world{n: n, next: 1000, sent: map[uint32]*port{}, got: map[uint32]int{}} // ids above notification ids
		for i := 0; i < 3; i++ {
			w.tasks = append(w.tasks, mustNewTask(n))
		}
		steps := rapid.IntRange(1, 80).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			w.step(rt)
			if err := checkInvariants(n); err != nil {
				rt.Fatalf("after step %d: %v", i, err)
			}
		}
		w.drainAndCheck(rt)
	})
}

func mustNewTask(n *Node) *Task {
	t, err := n.NewTask("t")
	if err != nil {
		panic(err)
	}
	return t
}

type world struct {
	n     *Node
	tasks []*Task
	next  uint32
	sent  map[uint32]*port // message id -> port it was queued on
	got   map[uint32]int
}

func (w *world) names(t *Task) []Name {
	infos, err := t.Names()
	if err != nil {
		return nil
	}
	out := make([]Name, len(infos))
	for i, ni := range infos {
		out[i] = ni.Name
	}
	return out
}

func (w *world) pick(rt *rapid.T, t *Task, label string) Name {
	ns := w.names(t)
	if len(ns) == 0 || rapid.IntRange(0, 9).Draw(rt, label+"-bogus") == 0 {
		return Name(rapid.IntRange(0, 50).Draw(rt, label+"-raw"))
	}
	return rapid.SampledFrom(ns).Draw(rt, label)
}

var notifyKinds = []NotifyKind{NotifyDeadName, NotifyNoSenders, NotifyPortDestroyed, NotifySendOnce, 0}

var allDisps = []Disposition{DispAuto, MoveReceive, MoveSend, CopySend, MakeSend, MoveSendOnce, MakeSendOnce}

func (w *world) step(rt *rapid.T) {
	t := w.tasks[rapid.IntRange(0, len(w.tasks)-1).Draw(rt, "task")]
	other := w.tasks[rapid.IntRange(0, len(w.tasks)-1).Draw(rt, "other")]
	switch rapid.IntRange(0, 13).Draw(rt, "op") {
	case 0:
		_, _ = t.AllocatePort()
	case 1:
		_ = t.MakeSend(w.pick(rt, t, "name"))
	case 2:
		_, _ = t.InsertRight(other, w.pick(rt, t, "name"), rapid.SampledFrom(allDisps).Draw(rt, "disp"), NameNull)
	case 3, 4:
		w.send(rt, t)
	case 5, 6:
		if m, err := t.TryReceive(w.pick(rt, t, "port")); err == nil {
			w.got[m.ID]++
		}
	case 7:
		_ = t.Deallocate(w.pick(rt, t, "name"))
	case 8:
		_ = t.ModRefs(w.pick(rt, t, "name"), RightType(rapid.IntRange(1, 4).Draw(rt, "right")), rapid.IntRange(-2, 2).Draw(rt, "delta"))
	case 9:
		if rapid.IntRange(0, 3).Draw(rt, "kill") == 0 {
			t.Terminate()
			w.replace(t)
		} else {
			_ = t.Destroy(w.pick(rt, t, "name"))
		}
	case 10:
		_, _ = t.AllocatePortSet()
	case 11:
		set := w.pick(rt, t, "set")
		if rapid.IntRange(0, 3).Draw(rt, "leave") == 0 {
			set = NameNull
		}
		_ = t.MoveMember(w.pick(rt, t, "member"), set)
	case 12:
		kind := rapid.SampledFrom(notifyKinds).Draw(rt, "kind")
		_ = t.RequestNotification(w.pick(rt, t, "name"), kind, w.pick(rt, t, "notify"))
	case 13:
		want := Name(rapid.IntRange(0, 60).Draw(rt, "want"))
		_, _ = t.InsertRight(other, w.pick(rt, t, "name"), rapid.SampledFrom(allDisps).Draw(rt, "disp"), want)
	}
}

func (w *world) replace(dead *Task) {
	for i, t := range w.tasks {
		if t == dead {
			w.tasks[i] = mustNewTask(w.n)
		}
	}
}

func (w *world) send(rt *rapid.T, t *Task) {
	w.next++
	m := &Message{ID: w.next, Dest: w.pick(rt, t, "dest"), DestDisp: rapid.SampledFrom(allDisps).Draw(rt, "destdisp")}
	if rapid.Bool().Draw(rt, "reply") {
		m.Reply, m.ReplyDisp = w.pick(rt, t, "reply"), rapid.SampledFrom(allDisps).Draw(rt, "replydisp")
	}
	for i := rapid.IntRange(0, 2).Draw(rt, "nrights"); i > 0; i-- {
		m.Rights = append(m.Rights, PortRight{Name: w.pick(rt, t, "carried"), Disp: rapid.SampledFrom(allDisps).Draw(rt, "cdisp")})
	}
	w.n.mu.Lock()
	var dst *port
	if e := t.names[m.Dest]; e != nil {
		dst = e.p
	}
	w.n.mu.Unlock()
	if err := t.TrySend(m); err == nil {
		w.sent[m.ID] = dst
	}
}

// drainAndCheck receives everything left and checks exactly-once delivery
// for every message whose port is still alive.
func (w *world) drainAndCheck(rt *rapid.T) {
	// Receiving can hand a task new receive rights: drain until a pass
	// finds nothing.
	for more := true; more; {
		more = false
		for _, t := range w.tasks {
			for _, name := range w.names(t) {
				for {
					m, err := t.TryReceive(name)
					if err != nil {
						break
					}
					w.got[m.ID]++
					more = true
				}
			}
		}
	}
	for id, p := range w.sent {
		w.n.mu.Lock()
		// A port whose receive right sits in a queue (possibly its own) is
		// alive but nobody can receive from it: Mach's port cycles.
		receivable := !p.dead && p.receiver != nil
		w.n.mu.Unlock()
		switch c := w.got[id]; {
		case c > 1:
			rt.Fatalf("message %d delivered %d times", id, c)
		case c == 0 && receivable:
			rt.Fatalf("message %d to a live port was lost", id)
		}
	}
	for id := range w.got {
		if _, ok := w.sent[id]; !ok && id >= 1000 {
			rt.Fatalf("message %d received but never sent", id)
		}
	}
}
