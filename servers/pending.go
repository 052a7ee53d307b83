package servers

import (
	"context"
	"fmt"

	"github.com/ftm-in-go/ftm/stm"
)

// PendingGroups returns the STM groups of bank that reliable-server units
// own according to the unit records their drivers saved there: the group
// each server's S was last precommitted into, whether the unit still waits
// for the decision (Precommitted) or saved it without applying it to STM.
// A driver restarted on the bank decides such a group itself, as the
// checkpoint's initiator decided (it asks the initiator with a query when it
// waits), so a takeover that finds one in doubt must leave it undecided
// (pair.StableConfig.Defer) instead of presuming abort: the initiator may
// have committed, and S would be lost from the committed checkpoint.
// Groups no record names (a precommit the record does not show can only
// end in abort) are not returned.
//
// It reads every object in the caller's id range (below
// stm.FirstAllocatedID) once; objects that are not unit records are
// skipped.
func PendingGroups(ctx context.Context, bank *stm.Bank) (map[stm.GroupID]bool, error) {
	if bank == nil {
		return nil, fmt.Errorf("servers: pending groups: nil bank")
	}
	out := map[stm.GroupID]bool{}
	// A plain read transaction, never committed: each record is read as
	// committed, and a read-only commit could be refused on a taken-over
	// bank that has no backup yet.
	tx := bank.Begin()
	defer tx.Abort()
	for _, o := range bank.Objects() {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("servers: pending groups: %w", err)
		}
		if o.ID >= stm.FirstAllocatedID {
			continue
		}
		b, err := tx.Bytes(o.ID)
		if err != nil {
			continue // deleted since listed
		}
		rec, err := decodeAny[unitRecord](b)
		if err != nil || rec.State == nil || rec.State.Name == "" || recordID(rec.State.Name) != o.ID {
			continue
		}
		if rec.Group != 0 && rec.GroupInc != 0 {
			out[stm.GroupID(rec.Group)] = true
		}
	}
	return out, nil
}
