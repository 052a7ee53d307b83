package pair

import (
	"context"
	"fmt"
	"sort"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/heartbeat"
	"github.com/ftm-in-go/ftm/stm"
)

// Takeovers run beside the link loop. Asking the group for a lost
// partner's banks may wait for the partner's lease to expire, or for a
// majority; meanwhile the pair Node goes on dialling or accepting, so a
// partner restarted at once links again at once. The next session's hello
// waits for the takeovers in flight (awaitTakeovers): the inventory it
// sends must hold the banks taken over, whose copies win over a restarted
// partner's empty ones (epoch), never the other way round.

// takeoverRun is one lost link's takeovers, running beside the link loop.
type takeoverRun struct {
	done chan struct{} // closed when every takeover of the run has ended
}

// takeOverBeside takes over, in the background, the banks copies holds
// (the best copy of each) for the peer lost as d; a run still in flight
// from an earlier loss ends first.
func (s *Stable) takeOverBeside(ctx context.Context, d *heartbeat.Death, copies map[string]*stm.Backup) {
	names := make([]string, 0, len(copies))
	for name := range copies {
		names = append(names, name)
	}
	sort.Strings(names)
	run := &takeoverRun{done: make(chan struct{})}
	s.mu.Lock()
	prev := s.taking
	s.taking = run
	s.mu.Unlock()
	s.background(func() {
		defer close(run.done)
		if prev != nil {
			<-prev.done
		}
		granted := s.groupTakeOvers(ctx, names, len(names) > 0 && s.partnerGone(ctx, d.Peer))
		for _, name := range names {
			if granted[name] {
				s.takeover(ctx, d, name, copies[name])
			}
		}
	})
}

// bestCopies returns the best copy of each bank backups holds.
func (s *Stable) bestCopies(backups, fallback map[string]*stm.Backup) map[string]*stm.Backup {
	copies := make(map[string]*stm.Backup, len(backups))
	for name, bk := range backups {
		copies[name] = s.bestCopy(name, bk, fallback[name])
	}
	return copies
}

// awaitTakeovers waits until the takeovers in flight have ended, or sess's
// link or ctx ends (an error then: the session stops).
func (s *Stable) awaitTakeovers(ctx context.Context, sess *session) error {
	s.mu.Lock()
	run := s.taking
	s.mu.Unlock()
	if run == nil {
		return nil
	}
	select {
	case <-run.done:
		return nil
	default:
	}
	s.log.Info("the partner linked while its banks are being taken over; the hello waits for the takeovers")
	select {
	case <-run.done:
		return nil
	case <-sess.mux.Done():
		return fmt.Errorf("%w: the link ended while takeovers were in flight", ErrHello)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// keepTakenOver records b, the partner's bank name taken over, as held
// here, unless the Stable was closed meanwhile (then b is closed: nothing
// will serve it); it reports whether b is held.
func (s *Stable) keepTakenOver(name string, b *stm.Bank, h *heldBank, tm *TakeoverTiming) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.log.Info("takeover ended after the node stopped; the bank is closed", zap.String("bank", name))
		_ = b.Close()
		return false
	}
	if old := s.banks[name]; old != nil { // cannot happen: resolve gives a bank one holder
		_ = old.bank.Close()
	}
	s.banks[name] = h
	s.takeovers++
	s.last = tm
	return true
}

// GoneTaker is what a Leases may also do: take bank over at once, without
// waiting for the primary's lease, because the partner's process is
// proven gone (StableConfig.PartnerGone); it fails like TakeOver.
type GoneTaker interface {
	TakeOverGone(ctx context.Context, bank string) error
}

// partnerGone reports whether StableConfig.PartnerGone proves peer's
// process gone.
func (s *Stable) partnerGone(ctx context.Context, peer string) bool {
	if s.cfg.PartnerGone == nil {
		return false
	}
	gone := s.cfg.PartnerGone(ctx, peer)
	s.log.Info("is the lost peer's process gone?", zap.String("peer", peer), zap.Bool("proven", gone))
	return gone
}
