package kernel

import (
	"fmt"
	"math"
	"sort"
)

// Task is an execution context with its own port name space. Its methods
// are safe for concurrent use by the task's goroutines.
type Task struct {
	node *Node
	id   uint64
	name string

	// Guarded by node.mu.
	names    map[Name]*entry
	byPort   map[*port]Name // names of receive/send rights, one per port
	nextName Name
	dead     bool
	done     chan struct{} // closed at termination

	sp  safePointSlot // SetSafePoint's hook (safepoint.go)
	rec recorderSlot  // SetRecorder's hook (recorder.go)
}

// entry is what a task holds under one name. Guarded by node.mu.
type entry struct {
	p        *port    // the port (nil for a port set)
	set      *portSet // a port set
	recv     bool     // holds the receive right
	send     uint32   // send-right user references
	sendOnce bool     // the name denotes one send-once right
	dead     uint32   // dead-name user references (p is dead)
	deadReq  bool     // a dead-name request is registered on this name
	nextFree *entry   // free list link while unused
}

func (e *entry) empty() bool {
	return !e.recv && e.send == 0 && !e.sendOnce && e.dead == 0 && e.set == nil
}

func (e *entry) rightType() RightType {
	switch {
	case e.set != nil:
		return RightPortSet
	case e.recv:
		return RightReceive
	case e.send > 0:
		return RightSend
	case e.sendOnce:
		return RightSendOnce
	case e.dead > 0:
		return RightDeadName
	}
	return RightNone
}

// Node is the node the task runs on.
func (t *Task) Node() *Node { return t.node }

// ID is the task's node-unique id; Name its human name.
func (t *Task) ID() uint64   { return t.id }
func (t *Task) Name() string { return t.name }

// Done is closed when the task has terminated.
func (t *Task) Done() <-chan struct{} { return t.done }

// lock takes the node lock and checks the task is alive.
func (t *Task) lock() error {
	t.node.mu.Lock()
	if t.dead {
		t.node.mu.Unlock()
		return ErrTaskDead
	}
	return nil
}

func (t *Task) unlock() { t.node.mu.Unlock() }

// newName picks an unused name.
func (t *Task) newName() Name {
	for {
		t.nextName++
		if t.nextName == NameNull {
			continue
		}
		if _, used := t.names[t.nextName]; !used {
			return t.nextName
		}
	}
}

func (t *Task) lookup(name Name) (*entry, error) {
	e := t.names[name]
	if e == nil || name == NameNull {
		return nil, fmt.Errorf("%w: %d in task %s", ErrInvalidName, name, t.name)
	}
	t.settle(e)
	return e, nil
}

// AllocatePort creates a port and returns the name of its receive right.
func (t *Task) AllocatePort() (Name, error) {
	if err := t.lock(); err != nil {
		return NameNull, err
	}
	defer t.unlock()
	p := t.node.newPort()
	name := t.newName()
	t.names[name] = &entry{p: p, recv: true}
	t.byPort[p] = name
	p.receiver, p.recvName = t, name
	return name, nil
}

// withEntry runs fn under the node lock on the entry name denotes in t's
// name space (ErrTaskDead, ErrInvalidName otherwise).
func (t *Task) withEntry(name Name, fn func(e *entry) error) error {
	if err := t.lock(); err != nil {
		return err
	}
	defer t.unlock()
	e, err := t.lookup(name)
	if err != nil {
		return err
	}
	return fn(e)
}

// MakeSend adds a send reference under the receive right's name (Mach's
// mach_port_insert_right with MAKE_SEND on one's own port).
func (t *Task) MakeSend(name Name) error {
	return t.withEntry(name, func(e *entry) error {
		if !e.recv {
			return fmt.Errorf("make send on %d: %w: not a receive right", name, ErrInvalidRight)
		}
		e.send++
		e.p.srefs++
		return nil
	})
}

// Deallocate releases one user reference of a send right, a send-once
// right, or a dead name, or destroys a port set. Use Destroy for receive
// rights.
func (t *Task) Deallocate(name Name) error {
	return t.withEntry(name, func(e *entry) error {
		switch {
		case e.set != nil:
			t.destroySet(name, e)
		case e.send > 0:
			t.dropSend(name, e, 1)
		case e.sendOnce:
			t.dropSendOnce(name, e)
		case e.dead > 0:
			t.dropDead(name, e, 1)
		default:
			return fmt.Errorf("deallocate %d: %w: only a receive right (use Destroy)", name, ErrInvalidRight)
		}
		return nil
	})
}

// Destroy destroys every right under name: a receive right kills the port
// (its senders see a dead name), send references are released.
func (t *Task) Destroy(name Name) error {
	if err := t.lock(); err != nil {
		return err
	}
	defer t.unlock()
	if _, err := t.lookup(name); err != nil {
		return err
	}
	t.destroyName(name)
	return nil
}

// ModRefs adds delta user references of right (send or dead name) to name;
// a receive right can only be removed (delta -1), which destroys the port.
func (t *Task) ModRefs(name Name, right RightType, delta int) error {
	return t.withEntry(name, func(e *entry) error {
		switch right {
		case RightSend:
			return t.modSend(name, e, delta)
		case RightDeadName:
			return t.modDead(name, e, delta)
		case RightReceive:
			if !e.recv || delta != -1 {
				return fmt.Errorf("modrefs receive on %d by %d: %w", name, delta, ErrInvalidValue)
			}
			t.dropReceive(name, e)
			return nil
		case RightSendOnce:
			if !e.sendOnce || delta != -1 {
				return fmt.Errorf("modrefs send-once on %d by %d: %w", name, delta, ErrInvalidValue)
			}
			t.dropSendOnce(name, e)
			return nil
		}
		return fmt.Errorf("modrefs %s on %d: %w", right, name, ErrInvalidRight)
	})
}

// refsFit reports whether delta applied to a uint32 count stays in range.
func refsFit(count uint32, delta int) bool {
	next := int64(count) + int64(delta)
	return next >= 0 && next <= math.MaxUint32
}

func (t *Task) modSend(name Name, e *entry, delta int) error {
	if e.send == 0 {
		return fmt.Errorf("modrefs send on %d: %w: no send right", name, ErrInvalidRight)
	}
	if !refsFit(e.send, delta) {
		return fmt.Errorf("modrefs send on %d by %d: %w: only %d references", name, delta, ErrInvalidValue, e.send)
	}
	if delta > 0 {
		e.send += uint32(delta)
		e.p.srefs += delta
		return nil
	}
	t.dropSend(name, e, uint32(-delta))
	return nil
}

func (t *Task) modDead(name Name, e *entry, delta int) error {
	if e.dead == 0 {
		return fmt.Errorf("modrefs dead-name on %d: %w: not a dead name", name, ErrInvalidRight)
	}
	if !refsFit(e.dead, delta) {
		return fmt.Errorf("modrefs dead-name on %d by %d: %w", name, delta, ErrInvalidValue)
	}
	if delta > 0 {
		e.dead += uint32(delta)
		return nil
	}
	t.dropDead(name, e, uint32(-delta))
	return nil
}

// dropSend releases k send references under name.
func (t *Task) dropSend(name Name, e *entry, k uint32) {
	for i := uint32(0); i < k; i++ {
		e.send--
		e.p.releaseSend()
	}
	t.forgetIfEmpty(name, e)
}

func (t *Task) dropSendOnce(name Name, e *entry) {
	e.sendOnce = false
	e.p.releaseSendOnce()
	t.forgetIfEmpty(name, e)
}

func (t *Task) dropDead(name Name, e *entry, k uint32) {
	e.dead -= k
	t.forgetIfEmpty(name, e)
}

// dropReceive destroys the receive right held under name.
func (t *Task) dropReceive(name Name, e *entry) {
	p := e.p
	e.recv = false
	p.receiver, p.recvName = nil, NameNull
	t.forgetIfEmpty(name, e)
	p.receiveLost()
}

// destroyName removes every right under name.
func (t *Task) destroyName(name Name) {
	e := t.names[name]
	if e == nil {
		return
	}
	if e.set != nil {
		t.destroySet(name, e)
		return
	}
	if e.send > 0 {
		t.dropSend(name, e, e.send)
	}
	if e.sendOnce {
		t.dropSendOnce(name, e)
	}
	if e.dead > 0 {
		t.dropDead(name, e, e.dead)
	}
	if e.recv {
		t.dropReceive(name, e)
	}
}

// forgetIfEmpty removes a name that no longer holds anything.
func (t *Task) forgetIfEmpty(name Name, e *entry) {
	if !e.empty() || t.names[name] != e {
		return
	}
	delete(t.names, name)
	if e.p != nil && t.byPort[e.p] == name {
		delete(t.byPort, e.p)
	}
	if e.deadReq && e.p != nil {
		e.p.cancelDeadReq(t, name)
	}
	t.node.freeEntry(e)
}

// newEntry takes an entry from the node's free list (send-once rights come
// and go with every RPC; reusing their entries keeps the reply path free of
// allocations). node.mu held.
func (n *Node) newEntry() *entry {
	if e := n.freeEntries; e != nil {
		n.freeEntries = e.nextFree
		n.nFree--
		*e = entry{}
		return e
	}
	return &entry{}
}

// freeEntry returns an entry no name refers to any more. node.mu held.
func (n *Node) freeEntry(e *entry) {
	if n.nFree >= maxFreeEntries {
		return
	}
	*e = entry{nextFree: n.freeEntries}
	n.freeEntries = e
	n.nFree++
}

const maxFreeEntries = 1024

// Names lists what the task holds, sorted by name.
func (t *Task) Names() ([]NameInfo, error) {
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.unlock()
	infos := make([]NameInfo, 0, len(t.names))
	for name, e := range t.names {
		t.settle(e)
		infos = append(infos, e.info(name))
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	return infos, nil
}

func (e *entry) info(name Name) NameInfo {
	ni := NameInfo{Name: name, Type: e.rightType(), Receive: e.recv, SendRefs: e.send, SendOnce: e.sendOnce, DeadRefs: e.dead}
	if e.set != nil {
		ni.Members = len(e.set.members)
	}
	return ni
}

// Type returns the strongest right the task holds under name.
func (t *Task) Type(name Name) (RightType, error) {
	if err := t.lock(); err != nil {
		return RightNone, err
	}
	defer t.unlock()
	e, err := t.lookup(name)
	if err != nil {
		return RightNone, err
	}
	return e.rightType(), nil
}

// Status reports on the port whose receive right (or send right) is name.
func (t *Task) Status(name Name) (PortStatus, error) {
	if err := t.lock(); err != nil {
		return PortStatus{}, err
	}
	defer t.unlock()
	e, err := t.lookup(name)
	if err != nil {
		return PortStatus{}, err
	}
	if e.p == nil || e.dead > 0 {
		return PortStatus{}, fmt.Errorf("status of %d: %w", name, ErrInvalidRight)
	}
	p := e.p
	return PortStatus{QueueLen: p.q.n, QueueLimit: p.limit, Seqno: p.seqno, SendRights: p.srefs,
		SendOnce: p.sonces, InSet: p.set != nil, Remote: p.remote != nil}, nil
}

// SetQueueLimit sets the queue limit of the port whose receive right is name.
func (t *Task) SetQueueLimit(name Name, limit int) error {
	if limit <= 0 {
		return fmt.Errorf("queue limit %d: %w", limit, ErrInvalidValue)
	}
	return t.withEntry(name, func(e *entry) error {
		if !e.recv {
			return fmt.Errorf("set queue limit on %d: %w: not a receive right", name, ErrInvalidRight)
		}
		e.p.limit = limit
		e.p.wakeSenders()
		return nil
	})
}

// Terminate ends the task: every right it holds is released (ports it
// received on die, senders and dead-name requesters are notified). It is
// idempotent.
func (t *Task) Terminate() {
	n := t.node
	n.mu.Lock()
	defer n.mu.Unlock()
	if t.dead {
		return
	}
	names := make([]Name, 0, len(t.names))
	for name := range t.names {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	for _, name := range names {
		t.destroyName(name)
	}
	t.dead = true
	delete(n.tasks, t.id)
	close(t.done)
}

func (t *Task) String() string { return fmt.Sprintf("task %s#%d", t.name, t.id) }
