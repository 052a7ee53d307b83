package cluster

import (
	"context"
	"fmt"
	"slices"
)

// Placement. With three or more nodes, a bank that has no backup gets one
// chosen by the group: among the live nodes its primary names (those it is
// linked to), the node that is neither the bank's primary nor a witness
// and holds the fewest banks (as primary or backup, counting a bank whose
// copy it is receiving), ties broken by name. The primary proposes OpPlace;
// the choice is made in Apply, so every member records the same Target,
// and two primaries placing at once see each other's choice in the count.

// Place returns the node that placement would choose as the next backup of
// bank among live ("" when none fits). It reads s only.
func (s *State) Place(bank string, live []string) string {
	primary := s.Banks[bank].Primary
	load := s.load()
	best, bestLoad := "", 0
	for _, n := range live {
		if m, ok := s.Members[n]; n == primary || (ok && m.Witness) {
			continue
		}
		l := load[n]
		if best == "" || l < bestLoad || (l == bestLoad && n < best) {
			best, bestLoad = n, l
		}
	}
	return best
}

// load counts the banks each node holds: as primary, as backup, or as the
// target of a copy under way.
func (s *State) load() map[string]int {
	n := map[string]int{}
	for _, b := range s.Banks {
		n[b.Primary]++
		switch {
		case b.Backup != "":
			n[b.Backup]++
		case b.Target != "":
			n[b.Target]++
		}
	}
	return n
}

// Load returns how many banks each node holds (primary, backup or copy
// target), for operators.
func (s *State) Load() map[string]int { return s.load() }

func (s *State) place(c Command) Result {
	b, ok := s.Banks[c.Bank]
	if !ok || b.Primary != c.Node || b.Orphan {
		return refused("%s is not the primary of bank %s", c.Node, c.Bank)
	}
	b.Target = ""
	s.Banks[c.Bank] = b // not counted as its own target while choosing
	b.Target = s.Place(c.Bank, c.Live)
	s.Banks[c.Bank] = b
	if b.Target == "" {
		return Result{Reason: fmt.Sprintf("no live node can back up bank %s (live %v)", c.Bank, c.Live), Bank: b}
	}
	return Result{OK: true, Bank: b}
}

// Place asks the group to choose the next backup of bank, which this node
// holds, among live, and returns the node it recorded as the bank's
// Target. ErrRefused (wrapped) when this node is not the bank's primary
// or no live node fits.
func (l *Lease) Place(ctx context.Context, bank string, live []string) (string, error) {
	live = slices.Clone(live)
	slices.Sort(live)
	res, err := l.propose(ctx, Command{Op: OpPlace, Bank: bank, Live: live})
	if err != nil {
		return "", err
	}
	return res.Bank.Target, nil
}
