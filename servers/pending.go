package servers

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ftm-in-go/ftm/stm"
)

// PendingGroups returns which of the groups inDoubt (found in phase 2 by a
// takeover of bank) reliable-server units own according to the unit
// records their drivers saved there: the group each server's S was last
// precommitted into, whether the unit still waits for the decision
// (Precommitted) or saved it without applying it to STM. A driver restarted
// on the bank decides such a group itself, as the checkpoint's initiator
// decided (it asks the initiator with a query when it waits), so a takeover
// that finds one in doubt must leave it undecided (pair.StableConfig.Defer)
// instead of presuming abort: the initiator may have committed, and S would
// be lost from the committed checkpoint. Groups no record names (a
// precommit the record does not show can only end in abort) are not
// returned.
//
// Its cost is that of the groups in doubt, not of the bank: the objects a
// group's transactions write (stm.Bank.GroupWrites) say which servers' S it
// holds (the servers' namespace names them), and only those servers' unit
// records are read.
func PendingGroups(ctx context.Context, bank *stm.Bank, inDoubt []stm.GroupID) (map[stm.GroupID]bool, error) {
	if bank == nil {
		return nil, fmt.Errorf("servers: pending groups: nil bank")
	}
	out := map[stm.GroupID]bool{}
	if len(inDoubt) == 0 {
		return out, nil
	}
	// A plain read transaction, never committed: each record is read as
	// committed, and a read-only commit could be refused on a taken-over
	// bank that has no backup yet.
	tx := bank.Begin()
	defer tx.Abort()
	states, err := serverStates(tx)
	if err != nil {
		return nil, fmt.Errorf("servers: pending groups: %w", err)
	}
	for _, g := range inDoubt {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("servers: pending groups: %w", err)
		}
		for _, id := range bank.GroupWrites(g) {
			if name, ok := states[id]; ok && ownsGroup(tx, name, g) {
				out[g] = true
				break
			}
		}
	}
	return out, nil
}

// serverStates maps the id of each server's S ("data:<server>" in the
// servers' namespace) to the server's name.
func serverStates(tx *stm.Tx) (map[stm.ID]string, error) {
	names, err := stableNames.Names(tx)
	if err != nil {
		return nil, err
	}
	out := make(map[stm.ID]string, len(names)/2)
	for name, id := range names {
		if server, ok := strings.CutPrefix(name, statePrefix); ok {
			out[id] = server
		}
	}
	return out, nil
}

// ownsGroup says whether server's unit record names g as the group its S
// was precommitted into.
func ownsGroup(tx *stm.Tx, server string, g stm.GroupID) bool {
	id, ok, err := stableNames.Lookup(tx, recordName(server))
	if err != nil || !ok {
		return false
	}
	b, err := tx.Bytes(id)
	if err != nil {
		return false
	}
	rec, err := decodeAny[unitRecord](b)
	if err != nil || rec.State == nil || rec.State.Name != server {
		return false
	}
	return rec.Group == uint64(g) && rec.GroupInc != 0
}

// GroupServers returns the reliable servers whose S the transactions of
// group g, still running in bank (in doubt after a takeover), write: the
// units whose restart takes part in deciding g. Sorted.
func GroupServers(bank *stm.Bank, g stm.GroupID) ([]string, error) {
	if bank == nil {
		return nil, fmt.Errorf("servers: group servers: nil bank")
	}
	tx := bank.Begin() // read as committed, never committed (see PendingGroups)
	defer tx.Abort()
	states, err := serverStates(tx)
	if err != nil {
		return nil, fmt.Errorf("servers: group servers: %w", err)
	}
	var out []string
	for _, id := range bank.GroupWrites(g) {
		if name, ok := states[id]; ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}
