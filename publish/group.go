package publish

import (
	"fmt"
	"maps"
	"slices"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/stm"
)

// GroupSpec publishes several machines as one task (publishing.txt §6.2:
// "treat a group of processes as a single process"): the messages they
// send each other (Env.Tell) are not recorded, and the members are
// checkpointed and recovered together. Each received message goes to the
// member Route names; what members tell each other is delivered after
// that member's Handle returns, in the order told, before the group
// receives its next message — so the group stays a function of its
// received messages.
type GroupSpec struct {
	Members map[string]func() Machine
	Route   func(m *kernel.Message) string
}

// New returns the group as one Machine, for Spec.New.
func (g GroupSpec) New() Machine {
	ms := make(map[string]Machine, len(g.Members))
	for name, mk := range g.Members {
		ms[name] = mk()
	}
	return &group{spec: g, members: ms}
}

// group is a GroupSpec's Machine.
type group struct {
	spec    GroupSpec
	members map[string]Machine
}

// told is a message one member told another.
type told struct {
	to string
	m  *kernel.Message
}

// Handle gives m to its member, then delivers what the members tell each
// other until nothing is left.
func (g *group) Handle(env *Env, m *kernel.Message) error {
	var queue []told
	env.tell = func(to string, m *kernel.Message) { queue = append(queue, told{to, m}) }
	defer func() { env.tell = nil }()
	next := told{to: g.spec.Route(m), m: m}
	for {
		member := g.members[next.to]
		if member == nil {
			return fmt.Errorf("%w: no member %q in the group", ErrBadSpec, next.to)
		}
		if err := member.Handle(env, next.m); err != nil {
			return err
		}
		if len(queue) == 0 {
			return nil
		}
		next, queue = queue[0], queue[1:]
	}
}

// Snapshot is every member's snapshot, in one checkpoint.
func (g *group) Snapshot() ([]byte, error) {
	states := make(map[string][]byte, len(g.members))
	for _, name := range slices.Sorted(maps.Keys(g.members)) {
		st, err := g.members[name].Snapshot()
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", name, err)
		}
		states[name] = st
	}
	return stm.Encode(states)
}

// Restore restores every member from one checkpoint.
func (g *group) Restore(b []byte) error {
	states := map[string][]byte{}
	if b != nil {
		var err error
		if states, err = stm.Decode[map[string][]byte](b); err != nil {
			return err
		}
	}
	for name, member := range g.members {
		if err := member.Restore(states[name]); err != nil {
			return fmt.Errorf("member %s: %w", name, err)
		}
	}
	return nil
}
