package servers

import "github.com/ftm-in-go/ftm/stm"

// SetPrecommitWrites installs fn, called inside the transaction that
// precommits S into a checkpoint's group, after the BeforeCheckpoint hook
// and before S is encoded: fn may write other STM objects (the pager's page
// objects), which then commit or abort with S and the rest of the atomic
// action, and may change s (what it changes is encoded). It runs with the
// driver's lock held: no calls, no checkpoint. Call before Run.
//
// A precommit can be withdrawn: its group aborted while the RU runs on
// (the initiator cancelled its two-phase attempt). S is then neither
// reloaded nor given a hook, and keeps what fn changed in it; a server
// whose fn changes s must undo that itself before S is written again
// (the pager does it in its BeforeCheckpoint hook).
//
// fn is not called when the RU commits alone within one driver step (a lone
// initiator with nothing to wait for): S then goes in a standalone
// transaction, so S must still hold whatever fn would have written then.
func SetPrecommitWrites[S any](srv *Server[S], fn func(tx *stm.Tx, s *S) error) {
	srv.precommitWrites = fn
}

// Bank is the STM bank the driver keeps units and server states in.
func (d *Driver) Bank() *stm.Bank { return d.cfg.Bank }
