package cluster

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// MemGroup is the in-memory Consensus for deterministic tests: one log,
// applied at once, shared by named members. A member Cut from the group
// stands for a member on the minority side of a partition: its proposals
// fail with ErrNoQuorum and its State stays as it was when it was cut.
type MemGroup struct {
	mu    sync.Mutex // guards every field
	state State
	cut   map[string]State // members cut off, with the state they last saw
	log   []Command        // every command committed, in order
}

// NewMemGroup returns a group with no members cut.
func NewMemGroup() *MemGroup {
	return &MemGroup{state: NewState(), cut: map[string]State{}}
}

// Member returns the Consensus member name uses.
func (g *MemGroup) Member(name string) Consensus { return &memMember{g: g, name: name} }

// Cut cuts name off the majority.
func (g *MemGroup) Cut(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.cut[name]; !ok {
		g.cut[name] = g.state.Clone()
	}
}

// Heal joins name to the majority again.
func (g *MemGroup) Heal(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.cut, name)
}

// Log returns the commands committed so far, as "op node bank" lines.
func (g *MemGroup) Log() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, len(g.log))
	for i, c := range g.log {
		out[i] = fmt.Sprintf("%v %s %s", c.Op, c.Node, c.Bank)
	}
	return out
}

// memMember is one member's view of a MemGroup.
type memMember struct {
	g    *MemGroup
	name string
}

var _ Consensus = (*memMember)(nil)

func (m *memMember) Propose(ctx context.Context, c Command) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	g := m.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, cut := g.cut[m.name]; cut {
		return Result{}, fmt.Errorf("%w: %s is cut off", ErrNoQuorum, m.name)
	}
	g.log = append(g.log, c)
	return g.state.Apply(c), nil
}

func (m *memMember) State() State {
	g := m.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if s, cut := g.cut[m.name]; cut {
		return s.Clone()
	}
	return g.state.Clone()
}

func (m *memMember) Leader() string {
	g := m.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, cut := g.cut[m.name]; cut {
		return ""
	}
	names := []string{}
	for n := range g.state.Members {
		if _, cut := g.cut[n]; !cut {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

func (m *memMember) Close() error { return nil }
