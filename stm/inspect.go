package stm

import (
	"slices"
	"sort"
)

// ObjectInfo describes one committed object (for ftmctl and tests).
type ObjectInfo struct {
	ID     ID
	Size   int
	Seq    uint64 // commit sequence of its last writer
	Locked TxID   // transaction holding a new version, 0 if none
}

// TxInfo describes one running transaction.
type TxInfo struct {
	ID     TxID
	Phase  Phase
	Group  GroupID
	Seq    uint64
	Writes int // objects with a new version
}

// Objects lists the committed objects by id.
func (b *Bank) Objects() []ObjectInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]ObjectInfo, 0, len(b.objs))
	for id, o := range b.objs {
		info := ObjectInfo{ID: id, Size: len(o.data), Seq: o.seq}
		if tx := b.locks[id]; tx != nil {
			info.Locked = tx.id
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Transactions lists the running transactions by id.
func (b *Bank) Transactions() []TxInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]TxInfo, 0, len(b.running))
	for _, tx := range b.running {
		out = append(out, TxInfo{ID: tx.id, Phase: tx.phase, Group: tx.group, Seq: tx.seq, Writes: len(tx.order)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// GroupWrites returns the ids written by the running transactions of group
// g, sorted: what a group found in doubt by a takeover holds. Its cost is
// the size of the group's transactions, not of the bank.
func (b *Bank) GroupWrites(g GroupID) []ID {
	b.mu.Lock()
	defer b.mu.Unlock()
	gr := b.groups[g]
	if gr == nil || g == 0 {
		return nil
	}
	var out []ID
	for _, tx := range gr.members {
		out = append(out, tx.order...)
	}
	slices.Sort(out)
	return out
}
