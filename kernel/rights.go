package kernel

import "fmt"

// settle turns the rights under a name into a dead name once its port has
// died (Mach does the same lazily). node.mu held.
func (t *Task) settle(e *entry) {
	if e.p == nil || !e.p.dead || (e.send == 0 && !e.sendOnce) {
		return
	}
	e.dead += e.send
	e.p.srefs -= int(e.send)
	e.send = 0
	if e.sendOnce {
		e.sendOnce = false
		e.p.sonces--
		e.dead++
	}
}

// autoDisp resolves DispAuto for a right under e, used as the message's
// destination (dest), its reply port (reply) or a carried right.
func autoDisp(e *entry, role int) Disposition {
	switch {
	case e.sendOnce:
		return MoveSendOnce
	case e.send > 0 && (role != roleReply || !e.recv):
		return CopySend
	case e.recv && role == roleReply:
		return MakeSendOnce
	case e.recv:
		return MakeSend
	}
	return CopySend
}

const (
	roleDest = iota
	roleReply
	roleCarried
)

// copyin takes the right named name with disposition d out of t's space
// and returns it in transit. On error nothing changed. node.mu held.
func (t *Task) copyin(name Name, d Disposition, role int) (xright, Disposition, error) {
	e, err := t.lookup(name)
	if err != nil {
		return xright{}, d, err
	}
	return t.copyinEntry(name, e, d, role)
}

// copyinEntry is copyin for an entry already looked up. node.mu held.
func (t *Task) copyinEntry(name Name, e *entry, d Disposition, role int) (xright, Disposition, error) {
	if e.dead > 0 && e.p != nil && e.p.dead {
		return xright{}, d, fmt.Errorf("name %d: %w", name, ErrPortDead)
	}
	if d == DispAuto {
		d = autoDisp(e, role)
	}
	if role == roleDest && d == MoveReceive {
		return xright{}, d, fmt.Errorf("destination %d with %s: %w: a destination takes a send or send-once right", name, d, ErrInvalidRight)
	}
	x, err := t.take(name, e, d)
	return x, d, err
}

// take performs one disposition on e, on the counts only: the name stays
// (possibly empty) and a moved receive right stays wired to the task until
// commit, so that untake can undo it without side effects. node.mu held.
func (t *Task) take(name Name, e *entry, d Disposition) (xright, error) {
	bad := func(why string) (xright, error) {
		return xright{}, fmt.Errorf("%s on name %d: %w: %s", d, name, ErrInvalidRight, why)
	}
	p := e.p
	switch d {
	case MoveReceive, MakeSend, MakeSendOnce:
		if !e.recv {
			return bad("no receive right")
		}
	case MoveSend, CopySend:
		if e.send == 0 {
			return bad("no send right")
		}
	case MoveSendOnce:
		if !e.sendOnce {
			return bad("no send-once right")
		}
	default:
		return bad("unknown disposition")
	}
	switch d {
	case MoveReceive:
		e.recv = false
		return xright{p: p, kind: RightReceive}, nil
	case MoveSend:
		e.send--
	case CopySend, MakeSend:
		p.srefs++
	case MoveSendOnce:
		e.sendOnce = false
		return xright{p: p, kind: RightSendOnce}, nil
	case MakeSendOnce:
		p.sonces++
		return xright{p: p, kind: RightSendOnce}, nil
	}
	return xright{p: p, kind: RightSend}, nil
}

// commit finishes a take once the whole operation succeeded: a moved
// receive right leaves the task (its set, its waiters), and a name left
// empty is forgotten (cancelling its dead-name request). node.mu held.
func (t *Task) commit(name Name, d Disposition, x xright) {
	if d == MoveReceive {
		p := x.p
		p.receiver, p.recvName = nil, NameNull
		p.receiverLeft()
		if p.set != nil {
			p.set.remove(p)
		}
	}
	if e := t.names[name]; e != nil {
		t.forgetIfEmpty(name, e)
	}
}

// untake reverses take (used when a later right of the same message
// fails). The entry is still in place: take forgets nothing. node.mu held.
func (t *Task) untake(name Name, d Disposition, x xright) {
	e := t.names[name]
	switch d {
	case CopySend, MakeSend:
		x.p.srefs--
	case MakeSendOnce:
		x.p.sonces--
	case MoveReceive:
		e.recv = true
	case MoveSend:
		e.send++
	case MoveSendOnce:
		e.sendOnce = true
	}
}

// copyout gives a right in transit to t and returns its name there. A send
// right for a port that died in transit arrives as a dead name. node.mu held.
func (t *Task) copyout(x xright) (Name, RightType) {
	p := x.p
	if x.kind == RightSendOnce {
		if p.dead {
			p.sonces--
			return t.insertDead(nil), RightDeadName
		}
		name := t.newName()
		e := t.node.newEntry()
		e.p, e.sendOnce = p, true
		t.names[name] = e
		return name, RightSendOnce
	}
	if x.kind == RightSend && p.dead {
		p.srefs--
		return t.insertDead(p), RightDeadName
	}
	name, ok := t.byPort[p]
	e := t.names[name]
	if !ok || e == nil {
		name = t.newName()
		e = &entry{p: p}
		t.names[name] = e
		t.byPort[p] = name
	}
	if x.kind == RightReceive {
		e.recv = true
		p.receiver, p.recvName = t, name
		return name, RightReceive
	}
	e.send++
	return name, RightSend
}

// insertDead adds a dead-name reference (merged with an existing one for p).
func (t *Task) insertDead(p *port) Name {
	if p != nil {
		if name, ok := t.byPort[p]; ok {
			if e := t.names[name]; e != nil {
				t.settle(e)
				e.dead++
				return name
			}
		}
	}
	name := t.newName()
	t.names[name] = &entry{p: p, dead: 1}
	if p != nil {
		t.byPort[p] = name
	}
	return name
}

// InsertRight gives dst the right src holds under name, with disposition
// d, under the name want in dst's space (NameNull: dst picks a name). It
// returns the name in dst (Mach's mach_port_insert_right/extract_right).
func (t *Task) InsertRight(dst *Task, name Name, d Disposition, want Name) (Name, error) {
	if dst == nil || dst.node != t.node {
		return NameNull, fmt.Errorf("insert right: %w: destination task on another node", ErrInvalidValue)
	}
	if err := t.lock(); err != nil {
		return NameNull, err
	}
	defer t.unlock()
	if dst.dead {
		return NameNull, ErrTaskDead
	}
	if want != NameNull {
		if e := dst.names[want]; e != nil {
			return NameNull, fmt.Errorf("insert right as %d: %w", want, ErrNameExists)
		}
	}
	x, d, err := t.copyin(name, d, roleCarried)
	if err != nil {
		return NameNull, err
	}
	if want != NameNull {
		if other, ok := dst.byPort[x.p]; ok && x.kind != RightSendOnce && !t.freedByCommit(dst, other, name) {
			t.untake(name, d, x)
			return NameNull, fmt.Errorf("insert right as %d: %w: task already names that port %d", want, ErrNameExists, other)
		}
		t.commit(name, d, x)
		dst.nextNameHint(want, x)
		return want, nil
	}
	t.commit(name, d, x)
	got, _ := dst.copyout(x)
	return got, nil
}

// freedByCommit reports whether the name other, which dst has for the
// port, is the name a move out of t's own space is about to empty (commit
// forgets it, so the right may take a new name). node.mu held.
func (t *Task) freedByCommit(dst *Task, other, name Name) bool {
	e := t.names[name]
	return dst == t && other == name && e != nil && e.empty()
}

// nextNameHint copies x out under the chosen name. node.mu held.
func (t *Task) nextNameHint(name Name, x xright) {
	e := &entry{p: x.p}
	t.names[name] = e
	switch x.kind {
	case RightSendOnce:
		e.sendOnce = true
		return
	case RightReceive:
		e.recv = true
		x.p.receiver, x.p.recvName = t, name
	case RightSend:
		e.send = 1
	}
	t.byPort[x.p] = name
}

// ExtractRight takes the right src holds under name, with disposition d,
// into t's space and returns its name there.
func (t *Task) ExtractRight(src *Task, name Name, d Disposition) (Name, error) {
	if src == nil {
		return NameNull, fmt.Errorf("extract right: %w: no source task", ErrInvalidValue)
	}
	return src.InsertRight(t, name, d, NameNull)
}
