package servers

import (
	"context"
	"sync"

	"github.com/ftm-in-go/ftm/stm"
)

// decidedKept is how many decided groups are remembered per bank.
const decidedKept = 4096

// decidedSet remembers the groups a driver decided in its bank, so the
// members of an atomic action on one driver decide the group once: a
// second Decide would ship the decision to the backup again.
type decidedSet struct {
	mu    sync.Mutex // guards m, order
	m     map[stm.GroupID]bool
	order []stm.GroupID
}

// decide decides g in bank b unless it was decided the same way already.
func (s *decidedSet) decide(ctx context.Context, b *stm.Bank, g stm.GroupID, commit bool) error {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[stm.GroupID]bool{}
	}
	done, seen := s.m[g]
	s.mu.Unlock()
	if seen && done == commit {
		return nil
	}
	if err := b.Decide(ctx, g, commit); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[g]; !ok {
		s.order = append(s.order, g)
	}
	s.m[g] = commit
	for len(s.order) > decidedKept {
		delete(s.m, s.order[0])
		s.order = s.order[1:]
	}
	return nil
}
