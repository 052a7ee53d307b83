package kernel

import "fmt"

// portSet is a set of ports received on together. Guarded by node.mu.
type portSet struct {
	members []*port
	next    int           // round-robin start, so no member starves
	wakeCh  chan struct{} // cap 1: a member may have a message
}

func (s *portSet) wake() {
	select {
	case s.wakeCh <- struct{}{}:
	default:
	}
}

// ready returns a member with a message, or nil.
func (s *portSet) ready() *port {
	for i := range s.members {
		p := s.members[(s.next+i)%len(s.members)]
		if p.q.n > 0 {
			s.next = (s.next + i + 1) % len(s.members)
			return p
		}
	}
	return nil
}

// pending reports whether any member has a message.
func (s *portSet) pending() bool {
	for _, p := range s.members {
		if p.q.n > 0 {
			return true
		}
	}
	return false
}

func (s *portSet) remove(p *port) {
	for i, m := range s.members {
		if m == p {
			s.members = append(s.members[:i], s.members[i+1:]...)
			break
		}
	}
	p.set = nil
	if s.next >= len(s.members) {
		s.next = 0
	}
}

// AllocatePortSet creates an empty port set and returns its name.
func (t *Task) AllocatePortSet() (Name, error) {
	if err := t.lock(); err != nil {
		return NameNull, err
	}
	defer t.unlock()
	name := t.newName()
	t.names[name] = &entry{set: &portSet{wakeCh: make(chan struct{}, 1)}}
	return name, nil
}

// MoveMember puts the port whose receive right is member into the set (or,
// with set NameNull, takes it out of any set). A port is in at most one set.
func (t *Task) MoveMember(member, set Name) error {
	if err := t.lock(); err != nil {
		return err
	}
	defer t.unlock()
	me, err := t.lookup(member)
	if err != nil {
		return err
	}
	if !me.recv {
		return fmt.Errorf("move member %d: %w: not a receive right", member, ErrInvalidRight)
	}
	var s *portSet
	if set != NameNull {
		se, err := t.lookup(set)
		if err != nil {
			return err
		}
		if se.set == nil {
			return fmt.Errorf("move member into %d: %w: not a port set", set, ErrInvalidRight)
		}
		s = se.set
	}
	p := me.p
	if p.set != nil {
		p.set.remove(p)
	}
	if s != nil {
		s.members = append(s.members, p)
		p.set = s
		if p.q.n > 0 {
			s.wake()
		}
	}
	return nil
}

// destroySet removes a port set; its members leave it. node.mu held.
func (t *Task) destroySet(name Name, e *entry) {
	for len(e.set.members) > 0 {
		e.set.remove(e.set.members[0])
	}
	close(e.set.wakeCh)
	delete(t.names, name)
}
