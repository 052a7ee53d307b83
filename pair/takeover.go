package pair

import (
	"context"
	"errors"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/internal/takeoverid"
	"github.com/ftm-in-go/ftm/kernel/heartbeat"
	"github.com/ftm-in-go/ftm/stm"
)

// TakeoverTiming reports one takeover step by step, each step logged with
// its timing.
type TakeoverTiming struct {
	// ID names the takeover in the log (internal/takeoverid): every line
	// of it carries the field takeover_id=ID.
	ID    string    `json:"id,omitempty"`
	Bank  string    `json:"bank"`
	Epoch uint64    `json:"epoch"` // the bank's new epoch
	At    time.Time `json:"at"`    // when the takeover finished
	// Detection is the partner's silence until it was declared dead (near
	// zero when the link broke, up to the heartbeat timeout when it hung).
	Detection time.Duration `json:"detection_ns"`
	// Takeover is Backup.Takeover: the backup bank becoming the primary.
	Takeover time.Duration `json:"takeover_ns"`
	// Resolution is deciding the groups found in doubt (phase 2) that were
	// not deferred.
	Resolution time.Duration `json:"resolution_ns"`
	// Total runs from the partner last heard to the bank resolved.
	Total     time.Duration `json:"total_ns"`
	Objects   int           `json:"objects"`
	InDoubt   int           `json:"in_doubt_groups"`
	Committed int           `json:"in_doubt_committed"`
	// Deferred counts the in-doubt groups left undecided for their owner
	// (StableConfig.Defer): they are decided later on the new primary.
	Deferred int `json:"in_doubt_deferred"`
	Aborted  int `json:"phase1_aborted"`
}

// takeover promotes the partner's backup bank to a bank this node holds
// (paper §3.3, failure of the primary machine): working-phase and phase-1
// transactions are lost, phase-2 groups are left in doubt when Defer says
// so and otherwise decided by Resolve (abort by default), decided ones are
// complete. A backup without a complete copy
// cannot take over: that bank is lost, and logged so.
func (s *Stable) takeover(ctx context.Context, d *heartbeat.Death, name string, bk *stm.Backup) {
	if s.takeoverFailed(FPTakeoverBegin, name, nil) {
		return
	}
	t0 := s.cfg.Clock.Now()
	b, rep, err := bk.Takeover(ctx, s.bankConfig(name))
	if err != nil {
		s.log.Error("cannot take over the partner's bank", zap.String("bank", name), zap.Error(err), takeoverid.Field(ctx))
		return
	}
	if s.takeoverFailed(FPTakeoverTaken, name, b) {
		return
	}
	t1 := s.cfg.Clock.Now()
	committed, deferred := s.resolveInDoubt(ctx, name, b, rep)
	t2 := s.cfg.Clock.Now()
	tm := TakeoverTiming{ID: takeoverid.FromContext(ctx), Bank: name, Epoch: rep.Epoch, At: t2, Detection: d.Silence,
		Takeover: t1.Sub(t0), Resolution: t2.Sub(t1), Total: t2.Sub(d.At.Add(-d.Silence)),
		Objects: b.Stats().Objects, InDoubt: len(rep.InDoubt), Committed: committed, Deferred: deferred, Aborted: len(rep.Aborted)}
	if !s.keepTakenOver(name, b, &heldBank{bank: b, mirror: MirrorNone, since: t2}, &tm) {
		return
	}
	s.log.Warn("took over the partner's bank", zap.String("bank", name), zap.Bool("commits_alone", s.commitsAlone(name)),
		zap.Uint64("epoch", tm.Epoch), zap.Int("objects", tm.Objects),
		zap.Duration("detection", tm.Detection), zap.Duration("takeover", tm.Takeover),
		zap.Duration("resolution", tm.Resolution), zap.Duration("total", tm.Total),
		zap.Int("in_doubt_groups", tm.InDoubt), zap.Int("in_doubt_committed", tm.Committed),
		zap.Int("in_doubt_deferred", tm.Deferred),
		zap.Int("phase1_aborted", tm.Aborted), takeoverid.Field(ctx))
	if s.takeoverFailed(FPTakeoverResolved, name, b) {
		return
	}
	if f := s.cfg.OnTakeover; f != nil {
		f(ctx, name, b)
	}
}

// takeoverFailed runs the failpoint hook at point of the takeover of bank
// name and reports whether it abandoned the takeover there: b, the bank
// already promoted (nil before), is then closed and no longer held.
func (s *Stable) takeoverFailed(point, name string, b *stm.Bank) bool {
	err := s.cfg.Failpoint.At(point, name)
	if err == nil {
		return false
	}
	s.log.Warn("takeover abandoned at a failpoint", zap.String("bank", name), zap.Error(err))
	if b != nil {
		s.mu.Lock()
		if h := s.banks[name]; h != nil && h.bank == b {
			delete(s.banks, name)
		}
		s.mu.Unlock()
		_ = b.Close()
	}
	return true
}

// resolveInDoubt decides every group the takeover found in phase 2, except
// those Defer leaves to their owner, and returns how many were committed
// and how many deferred. With no backup yet, a commit applies on the new
// primary only (stm.ErrBackupLost) until the next Attach copies it; a
// deferred group stays in phase 2 in b, is shipped to the next backup
// attached (Bank.Attach sends phase 2 transactions) and is decided there
// too when its owner calls Bank.Decide.
func (s *Stable) resolveInDoubt(ctx context.Context, name string, b *stm.Bank, rep stm.TakeoverReport) (committed, deferred int) {
	groups := make([]stm.GroupID, 0, len(rep.InDoubt))
	for g := range rep.InDoubt {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i] < groups[j] })
	var keep map[stm.GroupID]bool
	if s.cfg.Defer != nil && len(groups) > 0 {
		keep = s.cfg.Defer(ctx, name, b, groups)
	}
	for _, g := range groups {
		if keep[g] {
			deferred++
			s.log.Info("in-doubt group left to its owner", zap.String("bank", name), zap.Uint64("group", uint64(g)),
				zap.Int("transactions", len(rep.InDoubt[g])))
			continue
		}
		commit := s.cfg.Resolve != nil && s.cfg.Resolve(ctx, name, g)
		err := b.Decide(ctx, g, commit)
		if err != nil && !errors.Is(err, stm.ErrBackupLost) {
			s.log.Error("cannot resolve an in-doubt group", zap.String("bank", name), zap.Uint64("group", uint64(g)), zap.Error(err))
			continue
		}
		if commit {
			committed++
		}
		s.log.Info("in-doubt group resolved", zap.String("bank", name), zap.Uint64("group", uint64(g)),
			zap.Bool("commit", commit), zap.Int("transactions", len(rep.InDoubt[g])))
	}
	return committed, deferred
}

// BankStatus is one bank in StableStatus.
type BankStatus struct {
	Name    string `json:"name"`
	Role    string `json:"role"` // RoleOwn, RoleTakenOver or RoleBackup
	Epoch   uint64 `json:"epoch,omitempty"`
	Objects int    `json:"objects,omitempty"`
	Seq     uint64 `json:"last_commit_seq,omitempty"`
	// Mirror (primaries): MirrorNone, MirrorCopying, MirrorAttached or
	// MirrorLost. Commits are refused unless it is attached or copying.
	Mirror      string    `json:"mirror,omitempty"`
	MirrorSince time.Time `json:"mirror_since,omitzero"`
	// CommitsRefused (primaries): no backup holds the bank and no lease
	// lets it commit alone, so stm refuses its commits (stm.ErrNoBackup)
	// until the partner links or the group grants the lease.
	CommitsRefused bool `json:"commits_refused,omitempty"`
	// Alone (primaries): no backup holds the bank, and this node's lease
	// from the group lets it commit alone (paper §3.3.2: the primary
	// proceeds when its backup fails).
	Alone bool `json:"alone,omitempty"`
	// Attaches counts the partner backups attached to this bank while this
	// node held it (relinks and re-attaches after a mirror closed).
	Attaches int `json:"attaches,omitempty"`
	// Backup (primaries): the node its mirror goes to ("" none).
	Backup string `json:"backup,omitempty"`
	// Peer (backups): the node whose bank this is a backup of.
	Peer string `json:"peer,omitempty"`
	// Ready (backups): the backup holds a complete copy and can take over.
	Ready bool `json:"ready,omitempty"`
	// InDoubt (primaries): groups with transactions in phase 2 now,
	// waiting for their decision: a checkpoint in progress, or groups a
	// takeover left to their owner (StableConfig.Defer) not decided yet.
	InDoubt int `json:"in_doubt_groups,omitempty"`
}

// StableStatus is a snapshot of a member's banks for operators.
type StableStatus struct {
	Banks        []BankStatus    `json:"banks"`
	Takeovers    int             `json:"takeovers"`
	LastTakeover *TakeoverTiming `json:"last_takeover,omitempty"`
}

// Status returns the banks held (primaries first, then backups, by name),
// the takeover count and the last takeover's timings.
func (s *Stable) Status() StableStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := StableStatus{Takeovers: s.takeovers}
	if s.last != nil {
		last := *s.last
		st.LastTakeover = &last
	}
	for name, h := range s.banks {
		bs := h.bank.Stats()
		role := RoleOwn
		if name != s.cfg.Name {
			role = RoleTakenOver
		}
		mirrored := h.mirror == MirrorAttached || h.mirror == MirrorCopying
		alone := !mirrored && s.commitsAlone(name)
		st.Banks = append(st.Banks, BankStatus{Name: name, Role: role, Epoch: bs.Epoch, Objects: bs.Objects,
			Seq: bs.Seq, Mirror: h.mirror, MirrorSince: h.since,
			CommitsRefused: !mirrored && !alone, Alone: alone, Attaches: h.attaches, Backup: h.peer,
			InDoubt: phase2Groups(h.bank)})
	}
	st.Banks = append(st.Banks, s.backupStatus()...)
	sort.Slice(st.Banks, func(i, j int) bool {
		a, b := st.Banks[i], st.Banks[j]
		if (a.Role == RoleBackup) != (b.Role == RoleBackup) {
			return b.Role == RoleBackup
		}
		return a.Name < b.Name
	})
	return st
}

// phase2Groups counts the groups of b with a transaction in phase 2.
func phase2Groups(b *stm.Bank) int {
	gs := map[stm.GroupID]bool{}
	for _, tx := range b.Transactions() {
		if tx.Phase == stm.Phase2 && tx.Group != 0 {
			gs[tx.Group] = true
		}
	}
	return len(gs)
}
