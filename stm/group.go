package stm

import (
	"context"
	"fmt"
)

// group is the set of transactions of one bank that commit or abort
// together (paper §3.1.1, §3.3 phase 2). Guarded by Bank.mu.
type group struct {
	id       GroupID
	members  map[TxID]*Tx
	shipping int           // members in phase 1
	changed  chan struct{} // closed (and replaced) when shipping drops
	decided  bool
	commit   bool // the decision, once decided
}

func decisionName(commit bool) string {
	if commit {
		return "commit"
	}
	return "abort"
}

func (b *Bank) groupLocked(g GroupID) *group {
	gr := b.groups[g]
	if gr == nil {
		gr = &group{id: g, members: make(map[TxID]*Tx), changed: make(chan struct{})}
		b.groups[g] = gr
	}
	return gr
}

// joinGroupLocked makes tx a member of g entering phase 1; b.mu held.
func (b *Bank) joinGroupLocked(tx *Tx, g GroupID) error {
	gr := b.groupLocked(g)
	if gr.decided {
		b.abortLocked(tx)
		return fmt.Errorf("tx %d joining group %d: %w", tx.id, g, ErrGroupDecided)
	}
	gr.members[tx.id] = tx
	gr.shipping++
	tx.group = g
	return nil
}

// leaveGroupLocked removes an aborted member; b.mu held.
func (b *Bank) leaveGroupLocked(tx *Tx) {
	gr := b.groups[tx.group]
	if gr == nil {
		return
	}
	delete(gr.members, tx.id)
	if tx.phase == Phase1 {
		b.shippedLocked(gr)
	}
}

func (b *Bank) shippedLocked(gr *group) {
	gr.shipping--
	close(gr.changed)
	gr.changed = make(chan struct{})
}

func (b *Bank) enterPhase2(tx *Tx) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if tx.phase != Phase1 {
		return
	}
	tx.phase = Phase2
	if gr := b.groups[tx.group]; gr != nil {
		b.shippedLocked(gr)
	}
}

// Decide is the group decision (paper §3.3, phase 3): every member of g in
// phase 2 commits (commit true) or aborts together, on the backup first and
// then on the primary. Members still in phase 1 are waited for; no new
// member may join g afterwards.
//
// Abort always succeeds locally: the primary kept the old versions, so it
// works even when the backup has died. A commit whose decision cannot reach
// the backup is still applied on the primary (the decision is final) and
// reported with ErrBackupLost; a fenced (stale) primary applies nothing.
func (b *Bank) Decide(ctx context.Context, g GroupID, commit bool) error {
	members, err := b.closeGroup(ctx, g, commit)
	if err != nil {
		return err
	}
	if err := b.fail(FPPhase2Decided); err != nil {
		return err
	}
	b.mirrorMu.RLock()
	defer b.mirrorMu.RUnlock()
	shipErr := b.shipDecision(ctx, g, commit, members)
	if err := b.stateErr(); err != nil && shipErr != nil {
		return fmt.Errorf("decide group %d: %w: %w", g, err, shipErr)
	}
	if shipErr == nil {
		if err := b.fail(FPPhase3Shipped); err != nil {
			return err
		}
	}
	b.resolveLocal(members, commit)
	if err := b.fail(FPPhase3Applied); err != nil {
		return err
	}
	if shipErr != nil && commit {
		return fmt.Errorf("decide group %d: %w: %w", g, ErrBackupLost, shipErr)
	}
	return nil
}

// closeGroup waits until no member of g is in phase 1, then marks the group
// decided and returns its members. Deciding again the same way is allowed
// (a resent decision); the other way is ErrGroupDecided.
func (b *Bank) closeGroup(ctx context.Context, g GroupID, commit bool) ([]*Tx, error) {
	for {
		b.mu.Lock()
		if err := b.liveErr(); err != nil {
			b.mu.Unlock()
			return nil, err
		}
		gr := b.groupLocked(g)
		if gr.decided && gr.commit != commit {
			b.mu.Unlock()
			return nil, fmt.Errorf("group %d decided %s before: %w", g, decisionName(gr.commit), ErrGroupDecided)
		}
		if gr.shipping == 0 {
			if !gr.decided {
				gr.decided, gr.commit = true, commit // kept a while, so a late member is refused
				b.rememberDecidedLocked(g)
			}
			members := make([]*Tx, 0, len(gr.members))
			for _, tx := range gr.members {
				members = append(members, tx)
			}
			b.mu.Unlock()
			return members, nil
		}
		ch := gr.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("decide group %d: %w", g, ctx.Err())
		}
	}
}

// shipDecision sends the decision to the backup (one round trip for the
// whole group) when any member shipped new versions; mirrorMu held shared.
func (b *Bank) shipDecision(ctx context.Context, g GroupID, commit bool, members []*Tx) error {
	shipped := false
	for _, tx := range members {
		shipped = shipped || len(tx.order) > 0
	}
	if !shipped {
		return nil
	}
	m, err := b.usableMirror()
	if err != nil && b.mayCommitAlone(err) {
		return nil // no backup to tell; the bank commits alone
	}
	if err == nil {
		err = m.Decide(ctx, &Decision{Epoch: b.Epoch(), Group: g, Commit: commit})
	}
	if err == nil || b.mayCommitAlone(err) {
		if err != nil {
			b.mirrorFailed(err)
		}
		return nil
	}
	b.mirrorFailed(err)
	return err
}

func (b *Bank) resolveLocal(members []*Tx, commit bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, tx := range members {
		if commit {
			b.applyLocked(tx)
		} else {
			b.abortLocked(tx)
		}
	}
}

// decidedKept is how many decided groups a bank remembers (to refuse late
// members); older ones are forgotten.
const decidedKept = 4096

// rememberDecidedLocked records g as decided and forgets the oldest decided
// groups beyond decidedKept; b.mu held.
func (b *Bank) rememberDecidedLocked(g GroupID) {
	b.decided = append(b.decided, g)
	for len(b.decided) > decidedKept {
		old := b.decided[0]
		b.decided = b.decided[1:]
		if gr := b.groups[old]; gr != nil && gr.decided && len(gr.members) == 0 {
			delete(b.groups, old)
		}
	}
}
