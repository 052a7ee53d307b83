package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// expiryWatch follows one holder's lease count as this node's consensus
// member applies it, and says when the holder's lease has surely expired:
// ExpiryWait after the count was first seen unchanged.
type expiryWatch struct {
	holder string
	count  uint64
	since  time.Time // when count was first seen here
}

// see records the count applied now and reports whether the lease it
// proves has surely expired by now.
func (w *expiryWatch) see(count uint64, now time.Time, wait time.Duration) bool {
	if count != w.count || w.since.IsZero() {
		w.count, w.since = count, now
		return false
	}
	return now.Sub(w.since) >= wait
}

// TakeOver makes this node the primary of bank, whose backup it is, once
// the primary's lease has surely expired (ExpiryWait after this node
// first saw its last renewal): the group records the new primary, with no
// backup and the epoch raised, only if no renewal came in between. It
// returns the bank's new state; ErrNotBackup when this node is not (or no
// longer) the bank's backup, in which case its copy must not serve. An
// orphan (the primary's process restarted) is taken over at once. It
// retries while no majority is reached, until ctx ends.
func (l *Lease) TakeOver(ctx context.Context, bank string) (BankState, error) {
	var w expiryWatch
	for {
		st := l.cfg.Consensus.State()
		b, ok := st.Banks[bank]
		switch {
		case ok && b.Primary == l.cfg.Node:
			return b, nil
		case !ok || b.Backup != l.cfg.Node:
			return b, fmt.Errorf("%w: bank %s (primary %q, backup %q)", ErrNotBackup, bank, b.Primary, b.Backup)
		}
		if w.holder != b.Primary {
			w = expiryWatch{holder: b.Primary}
		}
		count := st.Leases[b.Primary]
		if w.see(count, l.cfg.Clock.Now(), l.ExpiryWait()) || b.Orphan {
			nb, done, err := l.tryTakeOver(ctx, bank, w)
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

// tryTakeOver proposes the takeover once; done says whether TakeOver ends.
func (l *Lease) tryTakeOver(ctx context.Context, bank string, w expiryWatch) (BankState, bool, error) {
	res, err := l.propose(ctx, Command{Op: OpTakeover, Bank: bank, Count: w.count})
	switch {
	case err == nil:
		l.log.Warn("bank taken over through the group: the old primary's lease expired", zap.String("bank", bank),
			zap.String("old_primary", w.holder), zap.Uint64("epoch", res.Bank.Epoch))
		if rerr := l.Renew(ctx); rerr != nil {
			l.log.Warn("no renewal after the takeover; the bank commits alone from the next", zap.Error(rerr))
		}
		return res.Bank, true, nil
	case errors.Is(err, ErrRefused) && res.Bank.Backup != l.cfg.Node && res.Bank.Primary != l.cfg.Node:
		return res.Bank, true, fmt.Errorf("%w: %w", ErrNotBackup, err)
	default: // no majority, or the holder renewed: watch again
		l.log.Info("takeover not granted yet", zap.String("bank", bank), zap.Error(err))
		return res.Bank, false, nil
	}
}
