package stm

import "fmt"

// ID names a stable object. It stays the same across commits, takeovers and
// full copies. Packages name their objects in a Namespace (names.go) and
// get ids the bank allocated (Tx.Create and Tx.Reserve hand out ids from
// FirstAllocatedID up). Ids below FirstAllocatedID, except RootID, are left
// to tests and tools that choose ids themselves.
type ID uint64

// FirstAllocatedID is the first id Tx.Create hands out.
const FirstAllocatedID ID = 1 << 32

// TxID names a transaction within one bank lineage.
type TxID uint64

// GroupID names a group of transactions that commit or abort together. The
// caller chooses it (the atomic action's UID in the checkpoint protocol), so
// the same group can span banks on several nodes.
type GroupID uint64

// Phase is where a transaction stands in Figure 5.
type Phase uint8

// The phases of a transaction (paper §3.3, Figure 5).
const (
	Working   Phase = iota // reading and writing new versions
	Phase1                 // validated; new versions being shipped to the backup
	Phase2                 // shipped; waiting for the group decision
	Committed              // phase 3 done: new versions won
	Aborted                // phase 3 done (or never reached): old versions won
)

var phaseNames = [...]string{"working", "phase1", "phase2", "committed", "aborted"}

func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("phase(%d)", uint8(p))
}
