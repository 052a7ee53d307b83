package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// expiryWatch follows one holder's lease count as this node learns it
// (from its member's applied state, or from a refused takeover's result,
// both after the renewal committed), and says when the holder's lease has
// surely expired: ExpiryWait after the count was first learned unchanged.
type expiryWatch struct {
	holder string
	count  uint64
	since  time.Time // when count was first learned here (zero: not yet)
}

// learn records a count learned now; a new count restarts the wait.
func (w *expiryWatch) learn(holder string, count uint64, now time.Time) {
	if holder != w.holder || count > w.count || w.since.IsZero() {
		w.holder, w.count, w.since = holder, count, now
	}
}

// expired reports whether the lease of the count watched has surely expired.
func (w *expiryWatch) expired(now time.Time, wait time.Duration) bool {
	return !w.since.IsZero() && now.Sub(w.since) >= wait
}

// TakeOver makes this node the primary of bank, whose backup it is, once
// the primary's lease has surely expired (ExpiryWait after this node
// learned its last renewal): the group records the new primary, with no
// backup and the epoch raised, only if no renewal came in between. An
// orphan (the primary's process restarted) is taken over at once. Only
// the group's answer ends it, never this member's applied state, which
// may lag (a member restarted catches up from the leader): it returns the
// bank's new state, or ErrNotBackup when the group says this node is not
// (or no longer) the bank's backup, in which case its copy must not
// serve. It retries while no majority is reached, until ctx ends.
func (l *Lease) TakeOver(ctx context.Context, bank string) (BankState, error) {
	var w expiryWatch
	for {
		st := l.cfg.Consensus.State()
		b := st.Banks[bank]
		if b.Primary == l.cfg.Node {
			return b, nil
		}
		now := l.cfg.Clock.Now()
		if w.since.IsZero() {
			w = l.watched(b.Primary, st.Leases[b.Primary])
		}
		w.learn(b.Primary, st.Leases[b.Primary], now)
		// An orphan, an unknown bank, or a view saying we are not the
		// backup, is put to the group at once (a takeover of an orphan or
		// an unknown bank only: safe with no wait); otherwise only once
		// the lease has surely expired.
		if b.Primary == "" || b.Orphan || (b.Backup != l.cfg.Node && !b.Mirrored) || w.expired(now, l.ExpiryWait()) {
			nb, done, err := l.tryTakeOver(ctx, bank, &w, !w.expired(now, l.ExpiryWait()))
			if done {
				return nb, err
			}
		}
		select {
		case <-ctx.Done():
			return b, ctx.Err()
		case <-l.cfg.Clock.After(l.cfg.Poll):
		}
	}
}

// tryTakeOver proposes the takeover once (of an orphan only, when
// ifOrphan); done says whether TakeOver ends. A refusal for a renewal
// hands the watch the primary's current count.
func (l *Lease) tryTakeOver(ctx context.Context, bank string, w *expiryWatch, ifOrphan bool) (BankState, bool, error) {
	res, err := l.propose(ctx, Command{Op: OpTakeover, Bank: bank, Count: w.count, IfOrphan: ifOrphan})
	switch {
	case err == nil:
		l.log.Warn("bank taken over through the group: the old primary's lease expired", zap.String("bank", bank),
			zap.String("old_primary", w.holder), zap.Uint64("epoch", res.Bank.Epoch))
		if rerr := l.Renew(ctx); rerr != nil {
			l.log.Warn("no renewal after the takeover; the bank commits alone from the next", zap.Error(rerr))
		}
		return res.Bank, true, nil
	case errors.Is(err, ErrRefused) && res.Bank.Backup != l.cfg.Node && res.Bank.Primary != l.cfg.Node &&
		!(res.Bank.Backup == "" && res.Bank.Mirrored):
		return res.Bank, true, fmt.Errorf("%w: %w", ErrNotBackup, err)
	case errors.Is(err, ErrRefused):
		w.learn(res.Bank.Primary, res.Count, l.cfg.Clock.Now())
	}
	if !ifOrphan {
		l.log.Info("takeover not granted yet", zap.String("bank", bank), zap.Error(err))
	}
	return res.Bank, false, nil
}
