package stm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Failpoint names, one per phase boundary (paper §3.3, Figure 5). The crash
// tests loop over Failpoints.
const (
	// FPValidated: primary, working phase over, reads validated, nothing shipped.
	FPValidated = "stm.commit.validated"
	// FPPhase1Shipped: primary, the backup acknowledged phase 1 (for a
	// transaction outside any group, the backup has already applied it).
	FPPhase1Shipped = "stm.phase1.shipped"
	// FPPhase2Decided: primary, the group decision is taken, not yet shipped.
	FPPhase2Decided = "stm.phase2.decided"
	// FPPhase3Shipped: primary, the backup acknowledged the decision; the
	// primary has not applied it yet.
	FPPhase3Shipped = "stm.phase3.shipped"
	// FPPhase3Applied: primary, the decision is applied on both sides.
	FPPhase3Applied = "stm.phase3.applied"
	// FPBackupPrepareReceived: backup, phase 1 message received, not stored.
	FPBackupPrepareReceived = "stm.backup.prepare.received"
	// FPBackupPrepareStored: backup, new versions stored (or applied), not acked.
	FPBackupPrepareStored = "stm.backup.prepare.stored"
	// FPBackupDecideReceived: backup, decision received, not applied.
	FPBackupDecideReceived = "stm.backup.decide.received"
	// FPBackupDecideApplied: backup, decision applied, not acked.
	FPBackupDecideApplied = "stm.backup.decide.applied"
)

// PrimaryFailpoints and BackupFailpoints list every failpoint by side.
var (
	PrimaryFailpoints = []string{FPValidated, FPPhase1Shipped, FPPhase2Decided, FPPhase3Shipped, FPPhase3Applied}
	BackupFailpoints  = []string{FPBackupPrepareReceived, FPBackupPrepareStored, FPBackupDecideReceived, FPBackupDecideApplied}
)

// Commit commits a transaction that belongs to no group. Reads are
// validated, then phase 1 ships the new versions to the backup bank in one
// round trip; since no group decision is pending, the backup applies them on
// receipt (phases 1 and 3 fused), and the primary then applies them too.
// Commit is refused (ErrNoBackup, the transaction aborted) when the backup
// cannot be reached, unless Config.Alone lets the bank commit alone; a
// read-only transaction needs no backup.
func (tx *Tx) Commit(ctx context.Context) error {
	b := tx.b
	p, err := b.validate(tx, 0, true)
	if err != nil {
		return err
	}
	if p == nil {
		return nil // read-only: validated and finished
	}
	if err := b.fail(FPValidated); err != nil {
		return err
	}
	lent := tx.copyBorrowed()
	defer lent.wait()
	return b.ship(ctx, tx, p, func() error {
		lent.install(b)
		if err := b.fail(FPPhase1Shipped); err != nil {
			return err
		}
		b.mu.Lock()
		b.applyLocked(tx)
		b.mu.Unlock()
		return b.fail(FPPhase3Applied)
	})
}

// Precommit runs phase 1 for a member of group g: it validates the reads,
// ships the new versions to the backup bank, and leaves the transaction in
// phase 2 holding its write locks until Decide(g) is called. Call Wait to
// learn the outcome.
func (tx *Tx) Precommit(ctx context.Context, g GroupID) error {
	if g == 0 {
		return fmt.Errorf("stm: precommit tx %d: group id 0 is reserved", tx.id)
	}
	b := tx.b
	p, err := b.validate(tx, g, false)
	if err != nil {
		return err
	}
	if err := b.fail(FPValidated); err != nil {
		return err
	}
	if p == nil {
		b.enterPhase2(tx)
		return b.fail(FPPhase1Shipped)
	}
	lent := tx.copyBorrowed()
	defer lent.wait()
	return b.ship(ctx, tx, p, func() error {
		lent.install(b)
		b.enterPhase2(tx)
		return b.fail(FPPhase1Shipped)
	})
}

// Wait blocks until the transaction has finished and returns nil if it
// committed, an error wrapping ErrAborted if it aborted.
func (tx *Tx) Wait(ctx context.Context) error {
	select {
	case <-tx.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	tx.b.mu.Lock()
	defer tx.b.mu.Unlock()
	return tx.outcome
}

// validate checks the reads, assigns the commit sequence, moves the
// transaction to phase 1 and builds its phase 1 message (nil when it wrote
// nothing; a read-only transaction outside a group finishes here).
func (b *Bank) validate(tx *Tx, g GroupID, alone bool) (*Prepare, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := tx.usable(); err != nil {
		return nil, err
	}
	if err := b.checkReads(tx); err != nil {
		return nil, err
	}
	if g != 0 {
		if err := b.joinGroupLocked(tx, g); err != nil {
			return nil, err
		}
	}
	b.seq++
	tx.seq, tx.phase = b.seq, Phase1
	if len(tx.order) == 0 {
		if alone {
			tx.phase = Committed
			b.finishLocked(tx)
		}
		return nil, nil
	}
	return b.prepareLocked(tx, alone), nil
}

// checkReads aborts tx with ErrConflict if an object it read has changed,
// or is held by another transaction already validated (in phase 1 or 2:
// it precedes tx in Seq order, so tx should have seen its version). A
// writer still in its working phase will be validated after tx, hence
// serialized after it, and does not conflict. b.mu held.
func (b *Bank) checkReads(tx *Tx) error {
	for id, s := range tx.reads {
		var cur uint64
		if o := b.objs[id]; o != nil {
			cur = o.seq
		}
		owner := b.locks[id]
		if cur != s || (owner != nil && owner != tx && owner.phase != Working) {
			b.stats.Conflicts++
			b.abortLocked(tx)
			return fmt.Errorf("tx %d read object %d, since changed: %w", tx.id, id, ErrConflict)
		}
	}
	return nil
}

func (b *Bank) prepareLocked(tx *Tx, commit bool) *Prepare {
	p := &Prepare{Epoch: b.epoch, Tx: tx.id, Group: tx.group, Commit: commit, NextID: b.nextID,
		Writes: make([]Write, len(tx.order))}
	for i, id := range tx.order {
		v := tx.writes[id]
		p.Writes[i] = Write{ID: id, Seq: tx.seq, Deleted: v.deleted, Data: v.data,
			lent: v.borrowed || v.lent, summed: v.summed, sum: v.sum}
	}
	return p
}

// ship sends phase 1 to the mirror and, on success, runs after while still
// holding the mirror lock shared, so a backup joining meanwhile sees either
// the whole transaction or none of it.
func (b *Bank) ship(ctx context.Context, tx *Tx, p *Prepare, after func() error) error {
	f := b.cfg.OnCommit
	if f == nil {
		return b.shipMirrored(ctx, tx, p, after)
	}
	start := time.Now()
	err := b.shipMirrored(ctx, tx, p, after)
	f(b, time.Since(start), err)
	return err
}

// shipMirrored is ship without the observer: it holds the mirror lock shared.
func (b *Bank) shipMirrored(ctx context.Context, tx *Tx, p *Prepare, after func() error) error {
	b.mirrorMu.RLock()
	defer b.mirrorMu.RUnlock()
	m, err := b.usableMirror()
	if err != nil && b.mayCommitAlone(err) {
		return b.commitAlone(tx, after)
	}
	if err == nil {
		err = m.Prepare(ctx, p)
		if err != nil && b.mayCommitAlone(err) {
			// The backup went while we shipped; its copy no longer counts
			// (the lease covers only banks recorded without backup).
			b.mirrorFailed(err)
			return b.commitAlone(tx, after)
		}
	}
	if err != nil {
		return b.shipFailed(tx, err)
	}
	return after()
}

// mayCommitAlone reports whether a commit that found no working backup
// (err, from usableMirror) may apply on this bank alone: Config.Alone
// grants it (the node holds the group's lease for the bank).
func (b *Bank) mayCommitAlone(err error) bool {
	return errors.Is(err, ErrNoBackup) && b.cfg.Alone != nil && b.cfg.Alone() == nil
}

// commitAlone applies tx on this bank with no backup (after), then asks
// Config.Alone again: a lease lost meanwhile is reported (ErrNoBackup),
// though the commit applied here, since the takeover that may follow
// starts from a copy without it.
func (b *Bank) commitAlone(tx *Tx, after func() error) error {
	if err := after(); err != nil {
		return err
	}
	b.mu.Lock()
	b.stats.Alone++
	b.mu.Unlock()
	if err := b.cfg.Alone(); err != nil {
		return fmt.Errorf("tx %d: %w: the lease was lost while committing alone: %w", tx.id, ErrNoBackup, err)
	}
	return nil
}

// usableMirror returns the mirror if one is attached and not known broken.
func (b *Bank) usableMirror() (Mirror, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.liveErr(); err != nil {
		return nil, err
	}
	if b.mirror == nil || b.mirrorBroken {
		return nil, fmt.Errorf("%w: no working backup attached", ErrNoBackup)
	}
	return b.mirror, nil
}

// shipFailed aborts tx after phase 1 failed. Unless the backup refused it
// definitively, the backup's state is now unknown, so the mirror is marked
// broken: no commit until a new backup has received a full copy.
func (b *Bank) shipFailed(tx *Tx, err error) error {
	b.mirrorFailed(err)
	b.mu.Lock()
	b.abortLocked(tx)
	b.mu.Unlock()
	if serr := b.stateErr(); serr != nil && !errors.Is(err, serr) {
		return fmt.Errorf("tx %d: %w: %w", tx.id, serr, err)
	}
	if errors.Is(err, ErrFenced) || errors.Is(err, ErrNoBackup) {
		return fmt.Errorf("tx %d: %w", tx.id, err)
	}
	return fmt.Errorf("tx %d phase 1: %w: %w", tx.id, ErrNoBackup, err)
}

// mirrorFailed records a failed exchange with the mirror: a refusal for a
// stale epoch fences this bank; anything else leaves the backup in an
// unknown state, so it must be re-attached.
func (b *Bank) mirrorFailed(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != live {
		return
	}
	if errors.Is(err, ErrFenced) {
		b.state = fenced
		b.log.Warn("fenced by a newer epoch; this primary is stale", zap.Error(err))
		return
	}
	if !b.mirrorBroken {
		b.log.Warn("backup unreachable; commits refused until a backup is attached", zap.Error(err))
	}
	b.mirrorBroken = true
}

// stateErr is liveErr under the lock.
func (b *Bank) stateErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.liveErr()
}
