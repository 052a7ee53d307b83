package pair

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Leases is what a Stable asks of the group that agrees on the banks'
// placement and grants leases (package cluster, filled in by the node):
// with it, a bank that lost its backup commits alone while this node
// holds its lease, and a backup takes its partner's bank over only once
// the group records it as the primary (doc.go, "Leases").
type Leases interface {
	// Claim records this node as the primary of bank unless a node holds
	// it already.
	Claim(ctx context.Context, bank string) error
	// SetBackup records backup, which holds a full copy of bank, as its
	// backup; the bank stops committing alone before it is proposed.
	SetBackup(ctx context.Context, bank, backup string) error
	// DropBackup records that bank, held here, has no backup any more, and
	// returns once the lease lets it commit alone.
	DropBackup(ctx context.Context, bank string) error
	// TakeOver waits until the primary's lease of bank has surely expired
	// and records this node, its backup, as the new primary. It fails with
	// an error wrapping ErrNotBackup when the group says this node may not
	// (the primary recorded the bank without backup: this copy is stale).
	TakeOver(ctx context.Context, bank string) error
	// Alone returns nil if bank, held here with no backup, may commit now.
	Alone(bank string) error
}

// Errors a Leases wraps, so that the pair knows a refusal is final.
var (
	// ErrNotBackup: the group refused this node a takeover; its copy of
	// the bank is stale and must not serve.
	ErrNotBackup = errors.New("pair: the group does not record this node as the bank's backup")
	// ErrRefused: the group refused a change (its condition did not hold):
	// retrying would not help.
	ErrRefused = errors.New("pair: the group refused the change")
)

// leaseRetry is the pause between proposals that reached no majority.
const leaseRetry = 50 * time.Millisecond

// commitsAlone reports whether bank may commit alone now.
func (s *Stable) commitsAlone(bank string) bool {
	return s.cfg.Leases != nil && s.cfg.Leases.Alone(bank) == nil
}

// aloneFunc is the stm.Config.Alone of bank: the lease's word.
func (s *Stable) aloneFunc(bank string) func() error {
	if s.cfg.Leases == nil {
		return nil
	}
	return func() error { return s.cfg.Leases.Alone(bank) }
}

// recordBackup tells the group that the partner holds bank's backup,
// retrying while no majority answers and the session lives.
func (s *Stable) recordBackup(ctx context.Context, sess *session, bank string) {
	if s.cfg.Leases == nil {
		return
	}
	// A refusal is not final here: our claim of the bank may not be
	// applied yet. The session's end stops the retries.
	s.retry(ctx, retrier{sess: sess, what: "record the backup", bank: bank, op: func(ctx context.Context) error {
		return s.cfg.Leases.SetBackup(ctx, bank, sess.peer)
	}})
}

// dropBackups tells the group that the banks held here lost their backup,
// so that they commit alone under the lease. Each is retried until it
// succeeds, the group refuses it, or the next link starts (ctx, which
// joined cancels).
func (s *Stable) dropBackups(ctx context.Context, banks []string) {
	if s.cfg.Leases == nil {
		return
	}
	for _, bank := range banks {
		s.background(func() {
			s.retry(ctx, retrier{what: "record the bank without backup", bank: bank, refusalFinal: true, op: func(ctx context.Context) error {
				return s.cfg.Leases.DropBackup(ctx, bank)
			}})
		})
	}
}

// retrier is one group update retried: op, named what, about bank; the
// session whose link's end stops it (nil: none); whether the group's
// refusal (ErrRefused) ends it.
type retrier struct {
	sess         *session
	what, bank   string
	refusalFinal bool
	op           func(context.Context) error
}

// retry runs r.op until it succeeds, the group refuses it for good, ctx
// ends or r.sess's link ends.
func (s *Stable) retry(ctx context.Context, r retrier) {
	for attempt := 1; ; attempt++ {
		octx, cancel := context.WithTimeout(ctx, time.Second)
		err := r.op(octx)
		cancel()
		if err == nil || (r.refusalFinal && errors.Is(err, ErrRefused)) {
			s.log.Info("group answered: "+r.what, zap.String("bank", r.bank), zap.Int("attempt", attempt), zap.Error(err))
			return
		}
		if attempt == 1 || attempt%20 == 0 {
			s.log.Warn("cannot "+r.what+" in the group yet", zap.String("bank", r.bank), zap.Int("attempt", attempt), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-s.cfg.Clock.After(leaseRetry):
		}
		if r.sess != nil && s.linkEnded(ctx, r.sess) {
			return
		}
	}
}

// background runs f in a goroutine that Close waits for.
func (s *Stable) background(f func()) {
	s.bg.Add(1)
	go func() { defer s.bg.Done(); f() }()
}

// ClaimOwn records this node as the primary of its own bank in the group,
// in the background, unless a node holds it already (then this node's
// fresh bank loses to that copy when they link); until it is recorded, the
// bank is not mirrored (awaitClaim), so it commits nothing. Without Leases
// it does nothing.
func (s *Stable) ClaimOwn(ctx context.Context) {
	if s.cfg.Leases == nil {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.stopClaim = cancel
	s.mu.Unlock()
	s.background(func() {
		s.retry(ctx, retrier{what: "claim our own bank", bank: s.cfg.Name, refusalFinal: true, op: func(ctx context.Context) error {
			claim := s.cfg.Leases.Claim
			if s.clustered() {
				claim = func(ctx context.Context, _ string) error { return s.claimInCluster(ctx) }
			}
			err := claim(ctx, s.cfg.Name)
			if err == nil {
				s.markClaimed()
			}
			return err
		}})
	})
}

// markClaimed opens the gate awaitClaim waits at.
func (s *Stable) markClaimed() { s.claimOnce.Do(func() { close(s.claimed) }) }

// awaitClaim waits, before our own bank is first mirrored, until the group
// records this node as its primary; it reports false if the session's
// link or ctx ended first. A bank mirrored (so committing) before its
// claim could lose acknowledged commits: if this process died then, a
// restarted one would find no record and claim its empty copy, and the
// partner's copy would be dropped as stale.
func (s *Stable) awaitClaim(ctx context.Context, sess *session) bool {
	select {
	case <-s.claimed:
		return true
	default:
	}
	s.log.Info("our bank is mirrored, and commits, once the group records our claim")
	select {
	case <-s.claimed:
		return true
	case <-sess.mux.Done():
		return false
	case <-ctx.Done():
		return false
	}
}

// groupTakeOvers asks the group for every bank in names at once (each
// waits for the same lease to expire) and returns those it gave.
func (s *Stable) groupTakeOvers(ctx context.Context, names []string, gone bool) map[string]bool {
	granted := make(map[string]bool, len(names))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok := s.groupTakeOver(ctx, name, gone)
			mu.Lock()
			granted[name] = ok
			mu.Unlock()
		}()
	}
	wg.Wait()
	return granted
}

// groupTakeOver asks the group for bank, whose backup this node holds,
// before the backup is promoted (at once when the partner's process is
// proven gone); it reports whether the takeover may go on. Without Leases
// it always may (the pair decides alone).
func (s *Stable) groupTakeOver(ctx context.Context, bank string, gone bool) bool {
	if s.cfg.Leases == nil {
		return true
	}
	t0 := s.cfg.Clock.Now()
	take := s.cfg.Leases.TakeOver
	if g, ok := s.cfg.Leases.(GoneTaker); ok && gone {
		take = g.TakeOverGone
	}
	err := take(ctx, bank)
	if err != nil {
		s.log.Warn("the group did not give us the partner's bank; our copy is dropped", zap.String("bank", bank), zap.Error(err))
		return false
	}
	s.log.Info("the group gave us the partner's bank", zap.String("bank", bank), zap.Bool("partner_gone", gone),
		zap.Duration("lease_wait", s.cfg.Clock.Now().Sub(t0)))
	return true
}
