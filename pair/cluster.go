package pair

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/heartbeat"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/stm"
)

// A cluster member (StableConfig.Peers and Placement set) differs from a
// pair member in three ways, and only there:
//
//   - It runs one session per live link (a pair Node per peer), and on
//     each it serves a backup for every bank of the cluster the peer might
//     mirror, and keeps a mirror channel for every bank it might mirror to
//     the peer. Each bank and direction has its own service
//     (clusterService), so a bank keeps its channels when it moves.
//   - A bank held here is not attached to a fixed partner: the protect
//     loop (Protect) finds every held bank without a mirror, records in the
//     group that it has no backup (so it commits alone under the lease),
//     asks the group's placement for its next backup among the peers
//     linked now (Placement.Place: a live node with the fewest banks),
//     streams that node a full copy while commits go on (stm Bank.Attach:
//     copy, then every commit mirrored), and records it as the backup once
//     the copy is complete. A failure at any step leaves the bank
//     committing alone under the lease (never with a backup recorded that
//     lacks its copy), and the loop tries again.
//   - When a link ends, only the banks mirrored to that peer lose their
//     backup, and only the banks whose primary the group records as that
//     peer and whose complete copy is held here are asked of the group and
//     taken over.
//
// A node whose own bank the group records as held by another node (it
// restarted after a takeover) drops its fresh bank and holds none: a
// spare, until placement makes it a backup.

// Placement is the group's placement of banks, which a cluster member
// asks (package cluster through the node).
type Placement interface {
	// Claim records this node as the primary of bank unless a node holds
	// it already, and returns the bank's primary after the claim.
	Claim(ctx context.Context, bank string) (primary string, err error)
	// Place chooses the next backup of bank, held here, among live and
	// records it in the group.
	Place(ctx context.Context, bank string, live []string) (string, error)
	// Holder returns the primary and backup the group records for bank
	// (as this node last heard: it may lag).
	Holder(bank string) (primary, backup string)
}

// protectTick is how often the protect loop looks for banks to protect.
const protectTick = 20 * time.Millisecond

// clusterServiceBase is the first service of a cluster's bank channels.
const clusterServiceBase link.Service = 16

func (s *Stable) clustered() bool { return s.cfg.Placement != nil && s.cfg.Leases != nil }

// bankNames lists the cluster's banks: one per member, sorted.
func (s *Stable) bankNames() []string {
	names := append([]string{s.cfg.Name}, s.cfg.Peers...)
	sort.Strings(names)
	return slices.Compact(names)
}

// clusterService is the service on which from mirrors bank to to: two per
// bank, one per direction of the link.
func (s *Stable) clusterService(bank, from, to string) link.Service {
	i, _ := slices.BinarySearch(s.bankNames(), bank)
	dir := 0
	if from > to {
		dir = 1
	}
	return clusterServiceBase + link.Service(2*i+dir)
}

// runClusterSession exchanges bank inventories with the peer, drops the
// banks it holds a newer copy of, and opens the bank channels.
func (s *Stable) runClusterSession(ctx context.Context, sess *session) error {
	ch, err := sess.mux.Channel(link.ServiceSTM)
	if err != nil {
		return fmt.Errorf("open STM hello service: %w", err)
	}
	mine := s.inventory()
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HelloTimeout)
	theirs, err := exchangeHello(hctx, stmLink{ch}, mine)
	cancel()
	_ = ch.Close()
	if err != nil {
		return err
	}
	if theirs.Node != sess.peer {
		return fmt.Errorf("%w: hello from %q on the link to %q", ErrHello, theirs.Node, sess.peer)
	}
	names := s.bankNames()
	valid := func(n string) bool { _, ok := slices.BinarySearch(names, n); return ok }
	p := resolveIn(link2{me: s.cfg.Name, partner: sess.peer, valid: valid}, mine.Banks, theirs.Banks)
	s.log.Info("STM banks resolved with a peer", zap.String("peer", sess.peer), zap.Strings("keep", p.keep),
		zap.Strings("drop", p.drop), zap.Strings("peer_keeps", p.serve))
	for _, name := range p.drop {
		s.dropBank(ctx, name)
	}
	return s.openBankChannels(ctx, sess, names)
}

// openBankChannels opens, for every bank, our mirror channel to the peer
// and the channel the peer mirrors on, served by a fresh backup.
func (s *Stable) openBankChannels(ctx context.Context, sess *session, names []string) error {
	mirrors := map[string]link.Link{}
	for _, name := range names {
		svc := s.clusterService(name, s.cfg.Name, sess.peer)
		out, err := sess.mux.Channel(svc)
		if err != nil {
			return fmt.Errorf("open mirror service %d: %w", svc, err)
		}
		mirrors[name] = stmLink{out}
		svc = s.clusterService(name, sess.peer, s.cfg.Name)
		in, err := sess.mux.Channel(svc)
		if err != nil {
			return fmt.Errorf("open backup service %d: %w", svc, err)
		}
		mc := &mirrorChannel{sess: sess, bank: name, ch: stmLink{in}, svc: svc}
		bk := s.newBackup(sess, name)
		sess.wg.Add(1)
		go func() { defer sess.wg.Done(); s.serveBackup(ctx, mc, bk) }()
	}
	s.mu.Lock()
	sess.mirrors, sess.ready = mirrors, true
	s.mu.Unlock()
	return nil
}

// lostPeer handles the end of the link to d.Peer in a cluster: the banks
// mirrored to it lose their backup (the protect loop places them again),
// and the banks it held whose complete copy is here are taken over once
// the group gives them, beside the link loop.
func (s *Stable) lostPeer(ctx context.Context, d *heartbeat.Death, sess *session) {
	s.mu.Lock()
	now := s.cfg.Clock.Now()
	for _, h := range s.banks {
		if h.peer == d.Peer {
			h.mirror, h.since, h.peer = MirrorNone, now, ""
		}
	}
	s.mu.Unlock()
	if sess == nil {
		return
	}
	copies := map[string]*stm.Backup{}
	for name, best := range s.bestCopies(sess.backups, sess.fallback) {
		if primary, _ := s.cfg.Placement.Holder(name); best.Ready() && primary == d.Peer && s.Bank(name) == nil {
			copies[name] = best
		}
	}
	s.takeOverBeside(ctx, d, copies) // beside.go: the link loop goes on
}

// backupStatus lists the backups of the live sessions; in a cluster only
// those holding a complete copy (every link serves an idle backup of each
// bank).
func (s *Stable) backupStatus() []BankStatus {
	var out []BankStatus
	for _, sess := range s.sessions {
		for name, bk := range sess.backups {
			if ready := bk.Ready(); ready || !s.clustered() {
				out = append(out, BankStatus{Name: name, Role: RoleBackup, Ready: ready, Peer: sess.peer})
			}
		}
	}
	return out
}

// Protect runs the protect loop of a cluster member until ctx ends (in
// the background; Close waits for it). A pair member has none.
func (s *Stable) Protect(ctx context.Context) {
	if !s.clustered() {
		return
	}
	s.background(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.cfg.Clock.After(protectTick):
			}
			for _, name := range s.unprotected() {
				s.background(func() { s.protect(ctx, name) })
			}
		}
	})
}

// unprotected returns the banks held with no mirror and no protect
// goroutine, and marks them as being protected.
func (s *Stable) unprotected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for name, h := range s.banks {
		if !s.closed && !h.protecting && (h.mirror == MirrorNone || h.mirror == MirrorLost) {
			h.protecting = true
			out = append(out, name)
		}
	}
	return out
}

// protect gives bank name a backup: recorded without one, placed, copied,
// recorded with it, then mirrored while the link to the backup lives.
func (s *Stable) protect(ctx context.Context, name string) {
	defer s.doneProtecting(name)
	primary, backup := s.cfg.Placement.Holder(name)
	if primary != s.cfg.Name {
		return // our claim or takeover is not applied here yet, or the bank is another's
	}
	if backup != "" && !s.groupStep(ctx, "record the bank without backup", name, func(ctx context.Context) error {
		return s.cfg.Leases.DropBackup(ctx, name)
	}) {
		return
	}
	live := s.readyPeers()
	if len(live) == 0 {
		return
	}
	var target string
	if !s.groupStep(ctx, "place the bank's backup", name, func(ctx context.Context) (err error) {
		target, err = s.cfg.Placement.Place(ctx, name, live)
		return err
	}) {
		return
	}
	if err := s.cfg.Failpoint.At(FPProtectPlaced, name); err != nil {
		s.log.Warn("protection abandoned at a failpoint", zap.String("bank", name), zap.Error(err))
		return
	}
	sess, mc := s.mirrorTo(target, name)
	if mc == nil {
		return
	}
	defer sess.wg.Done()
	s.log.Info("re-protecting a bank onto the placed node", zap.String("bank", name), zap.String("backup", target))
	s.attach(ctx, mc)
}

// groupStep runs one group update of protect, bounded; it reports whether
// it succeeded (else the protect loop tries again later).
func (s *Stable) groupStep(ctx context.Context, what, bank string, op func(context.Context) error) bool {
	octx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := op(octx); err != nil {
		s.log.Info("cannot "+what+" yet", zap.String("bank", bank), zap.Error(err))
		return false
	}
	return true
}

func (s *Stable) doneProtecting(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.banks[name]; h != nil {
		h.protecting = false
	}
}

// readyPeers lists the peers whose session has its channels open.
func (s *Stable) readyPeers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for peer, sess := range s.sessions {
		if sess.ready {
			out = append(out, peer)
		}
	}
	sort.Strings(out)
	return out
}

// mirrorTo returns the live session to peer and bank's mirror channel on
// it, counted in the session's goroutines (the caller calls wg.Done); nil
// when the link is gone.
func (s *Stable) mirrorTo(peer, bank string) (*session, *mirrorChannel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[peer]
	if sess == nil || !sess.ready || sess.mirrors[bank] == nil || s.closed {
		return nil, nil
	}
	sess.wg.Add(1)
	return sess, &mirrorChannel{sess: sess, bank: bank, ch: sess.mirrors[bank], svc: s.clusterService(bank, s.cfg.Name, peer)}
}

// claimInCluster claims our own bank; if the group records another node
// as its primary (we restarted after a takeover), our fresh bank is
// dropped and this node is a spare.
func (s *Stable) claimInCluster(ctx context.Context) error {
	primary, err := s.cfg.Placement.Claim(ctx, s.cfg.Name)
	if err != nil {
		return err
	}
	if primary != "" && primary != s.cfg.Name {
		s.log.Warn("our bank is held by another node: rejoining as a spare", zap.String("bank", s.cfg.Name), zap.String("primary", primary))
		s.dropBank(ctx, s.cfg.Name)
	}
	return nil
}
