package cluster

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"
)

// A primary whose process is gone cannot commit, so nobody needs to wait
// for its lease to expire: its backup may take its banks over at once. A
// process is proven gone by its own sockets: a node never closes its link
// or its link listener while it may still commit (it closes its banks
// first), and a killed process's sockets are closed by its kernel at once,
// so a link ended by the partner's side plus a refused connection to the
// partner's link port (ECONNREFUSED, from the partner's own kernel) prove
// that no process of the partner can commit any more. The proof is the
// caller's (package pair asks the node); the group checks only, as for
// every takeover, that the proposer is the bank's backup: a primary that
// recorded its bank without backup (it committed alone) is never taken
// over, gone or not.

// TakeOverGone makes this node the primary of bank, whose backup it is,
// at once: the caller proved the primary's process gone. It returns the
// bank's new state, or ErrNotBackup when the group says this node is not
// (or no longer) the bank's backup; it retries while no majority is
// reached, until ctx ends.
func (l *Lease) TakeOverGone(ctx context.Context, bank string) (BankState, error) {
	for {
		t0 := l.cfg.Clock.Now()
		res, err := l.propose(ctx, Command{Op: OpTakeover, Bank: bank, Gone: true})
		switch {
		case err == nil:
			l.grant(t0, res) // the takeover renewed our lease: the bank commits alone at once
			l.log.Warn("bank taken over through the group: its primary's process is gone", zap.String("bank", bank),
				zap.Uint64("epoch", res.Bank.Epoch))
			return res.Bank, nil
		case errors.Is(err, ErrRefused):
			return res.Bank, fmt.Errorf("%w: %w", ErrNotBackup, err)
		}
		select {
		case <-ctx.Done():
			return res.Bank, fmt.Errorf("take over %s: %w (last: %w)", bank, ctx.Err(), err)
		case <-l.cfg.Clock.After(l.cfg.Poll):
		}
	}
}
