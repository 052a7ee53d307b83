package pair

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/clock"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/kernel/heartbeat"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/stm"
)

// StableConfig configures the STM side of one pair member.
type StableConfig struct {
	Name        string // this node; its own bank has this name
	PartnerName string // the partner node; its bank has this name
	// HelloTimeout bounds the bank inventory exchange at the start of a
	// link (default 5s); a partner that does not answer in time is dropped.
	// It also bounds each re-attach of a mirror closed while linked.
	HelloTimeout time.Duration
	// Resolve decides a group found in doubt (phase 2) by a takeover, for
	// the layer that initiated it (paper §3.3: the survivor waits for the
	// group decision). Nil: abort (presumed abort).
	Resolve func(ctx context.Context, bank string, g stm.GroupID) bool
	// Defer, when set, is asked first which groups found in doubt by a
	// takeover of bank (held now as b, not yet in service) to leave
	// undecided: their transactions keep their write locks in b and are
	// shipped to the next backup attached, for their owner to decide later
	// with b.Decide, e.g. a reliable server's driver restarted on the
	// taken-over bank, which asks the checkpoint's initiator
	// (servers.PendingGroups tells which groups such drivers own). The
	// other groups (all of them when Defer is nil) are decided by Resolve.
	Defer func(ctx context.Context, bank string, b *stm.Bank, inDoubt []stm.GroupID) map[stm.GroupID]bool
	// OnTakeover, when set, is called after the partner's bank named bank
	// was taken over and is held by this node as b: the layer above
	// restarts the partner's stable tasks from it (paper §2.2).
	OnTakeover func(ctx context.Context, bank string, b *stm.Bank)
	// OnDrop, when set, is called when bank b, held by this node, is
	// superseded by the partner's copy on relinking (after a partition, the
	// side whose copy has the lower epoch), just before b is closed: the
	// layer above stops the work it runs on b and discards its uncommitted
	// state, so a task runs on one side only (fencing, doc.go).
	OnDrop func(ctx context.Context, bank string, b *stm.Bank)
	// Failpoint is called at the pair's steps (FPTakeoverBegin ...) and,
	// unless Bank or Backup sets its own, at stm's steps of the banks and
	// backups this node makes. Nil (no failpoint) in production; a binary
	// arms it for crash tests (internal/failpoint).
	Failpoint failpoint.Hook
	// Leases, when set, is the group (package cluster, through the node)
	// that records which node holds each bank and grants leases: a bank
	// that lost its backup then commits alone under this node's lease,
	// and a partner's bank is taken over only once the group gives it
	// (leases.go). Nil: no commit without a backup, and a takeover
	// decided by the pair alone.
	Leases Leases
	// Peers and Placement make this node a member of a cluster of more
	// than two nodes (cluster.go): Peers names the other nodes (each one's
	// bank has its name), and a bank held here gets its backup where the
	// group's placement says. Both nil: a pair (PartnerName).
	Peers     []string
	Placement Placement
	Bank      stm.Config       // for the banks this node holds (Logger defaults to Logger)
	Backup    stm.BackupConfig // for the partner's backup banks
	Remote    stm.RemoteConfig // for the mirrors to the partner
	Clock     clock.Clock
	Logger    *zap.Logger

	// PartnerGone, when set (with a Leases that is a GoneTaker), is asked
	// when a peer (a pair: the partner) is lost whether its process is
	// proven gone (a
	// refused connection to its link port: see package cluster, gone.go);
	// then its banks are taken over without waiting for its lease. Nil:
	// never proven, the lease always expires first.
	PartnerGone func(ctx context.Context, peer string) bool
}

// Mirror states of a bank this node holds as primary.
const (
	MirrorNone     = "none"     // no partner linked: commits are refused (stm.ErrNoBackup) unless the lease lets the bank commit alone
	MirrorCopying  = "copying"  // Bank.Attach is streaming the full copy to the partner
	MirrorAttached = "attached" // the partner's backup bank holds a full copy
	MirrorLost     = "lost"     // the attach failed or the mirror closed while linked
)

// Bank roles in StableStatus.
const (
	RoleOwn       = "own"        // this node's bank, held as primary
	RoleTakenOver = "taken-over" // the partner's bank, held as primary after a takeover
	RoleBackup    = "backup"     // the partner's bank, held as its backup
)

// heldBank is a bank this node holds as primary.
type heldBank struct {
	bank     *stm.Bank
	mirror   string // Mirror* state
	since    time.Time
	attaches int    // successful attaches of a partner's backup
	peer     string // the node its mirror goes to ("" none)
	// protecting: a goroutine is placing, copying or mirroring the bank
	// (cluster.go); the protect loop starts no other.
	protecting bool
}

// Stable makes a pair member primary for its own STM bank and backup for
// its partner's, over the pair link (paper §2.2, §3.3). Install its Hooks in
// the pair Node's Config; call Close after Node.Run has returned.
//
// On each new link both sides send a hello listing the banks they hold as
// primary (name, epoch, last commit sequence) and resolve them identically
// (resolve): a bank claimed twice goes to the higher epoch and the other
// copy is closed. Then each side serves a fresh stm.Backup for every bank
// the partner keeps and attaches (Bank.Attach, full copy while commits go
// on) a RemoteMirror for every bank it keeps. When the partner is declared
// dead, every backup holding a complete copy takes over (Backup.Takeover,
// in-doubt groups left to their owner by StableConfig.Defer or decided by
// Resolve) and the bank is held as primary from then on; the next partner
// to link becomes its backup.
//
// Invariants: after a hello, each of the pair's two banks has exactly one
// holder; a bank held as primary commits only while its mirror is attached
// or copying, or while the group's lease lets it commit alone; takeover
// starts only after the link's STM streams stopped and, with Leases, once
// the group gave the bank to this node.
//
// Lock order: Stable.mu before Bank.mu and Backup.mu (Stats, Ready); it is
// never held across Attach, Takeover, Decide or link I/O.
type Stable struct {
	cfg StableConfig
	log *zap.Logger

	mu        sync.Mutex           // guards the fields below (before any Bank's lock)
	banks     map[string]*heldBank // banks held as primary, by name
	sessions  map[string]*session  // the live links' sessions, by peer
	takeovers int                  // takeovers completed
	last      *TakeoverTiming      // the latest takeover
	closed    bool
	// unlinked is cancelled when the next link starts: it bounds the
	// group updates for the banks the last link's end left without backup.
	unlinked  context.CancelFunc
	stopClaim context.CancelFunc // ends ClaimOwn's retries
	// claimed is closed once the group records this node as the primary
	// of its own bank (at once without Leases): only then is that bank
	// mirrored, so it commits nothing the group does not know it holds.
	claimed   chan struct{}
	claimOnce sync.Once
	taking    *takeoverRun   // the last lost link's takeovers (beside.go)
	bg        sync.WaitGroup // group updates in the background (leases.go)
}

// session is the STM work on one partner link.
type session struct {
	mux  *link.Mux
	peer string
	wg   sync.WaitGroup // the session's goroutines
	// ready: the hello was exchanged and the channels opened.
	ready    bool
	backups  map[string]*stm.Backup // banks backed up on this link
	fallback map[string]*stm.Backup // the last complete copy while a re-attach copies anew
	mirrors  map[string]link.Link   // (cluster) our mirror channel of each bank
}

// ErrStableConfig is returned by NewStable for unusable names.
var ErrStableConfig = errors.New("pair: bad stable configuration")

// NewStable returns a member holding a fresh, empty own bank. The bank
// refuses commits (stm.ErrNoBackup) until the partner has linked and holds
// its backup copy, or, with StableConfig.Leases, while the group's lease
// does not let it commit alone (docs/architecture.md, "No commit without a
// backup, except under the group's lease").
func NewStable(cfg StableConfig) (*Stable, error) {
	if cfg.Placement != nil && cfg.PartnerName == "" && len(cfg.Peers) > 0 {
		cfg.PartnerName = cfg.Peers[0] // names only: a cluster member has no one partner
	}
	if cfg.Name == "" || cfg.PartnerName == "" || cfg.Name == cfg.PartnerName {
		return nil, fmt.Errorf("%w: names %q and %q", ErrStableConfig, cfg.Name, cfg.PartnerName)
	}
	if cfg.HelloTimeout <= 0 {
		cfg.HelloTimeout = 5 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	s := &Stable{cfg: cfg, log: cfg.Logger.With(zap.String("node", cfg.Name)),
		banks: map[string]*heldBank{}, sessions: map[string]*session{}, claimed: make(chan struct{})}
	if cfg.Leases == nil {
		s.markClaimed()
	}
	s.banks[cfg.Name] = &heldBank{bank: stm.NewBank(s.bankConfig(cfg.Name)), mirror: MirrorNone, since: cfg.Clock.Now()}
	return s, nil
}

func (s *Stable) bankConfig(name string) stm.Config {
	c := s.cfg.Bank
	if c.Logger == nil {
		c.Logger = s.log.With(zap.String("bank", name))
	}
	if c.Failpoint == nil {
		c.Failpoint = s.cfg.Failpoint
	}
	if c.Alone == nil {
		c.Alone = s.aloneFunc(name)
	}
	return c
}

// Hooks returns the pair hooks that drive mirroring and takeover.
func (s *Stable) Hooks() Hooks {
	return Hooks{PartnerJoined: s.joined, PartnerLost: s.lost}
}

// Bank returns the bank of that name if this node holds it as primary (its
// own, or its partner's after a takeover), else nil. A bank changes hands
// on takeover and on rejoin: callers look it up again after such events.
func (s *Stable) Bank(name string) *stm.Bank {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.banks[name]; h != nil {
		return h.bank
	}
	return nil
}

// Own is Bank(Name).
func (s *Stable) Own() *stm.Bank { return s.Bank(s.cfg.Name) }

// Close ends the current session and closes every bank held. Call it once
// the pair Node's Run has returned.
func (s *Stable) Close() error {
	s.mu.Lock()
	s.closed = true
	for _, stop := range []context.CancelFunc{s.unlinked, s.stopClaim} {
		if stop != nil {
			stop()
		}
	}
	sessions := s.sessions
	s.sessions = map[string]*session{}
	banks := s.banks
	s.banks = map[string]*heldBank{}
	s.mu.Unlock()
	for _, sess := range sessions {
		_ = sess.mux.Close()
		sess.wg.Wait()
	}
	s.bg.Wait()
	for _, h := range banks {
		_ = h.bank.Close()
	}
	return nil
}

// joined starts the STM session of a new link; it returns at once so the
// heartbeats start while banks are exchanged and copied.
func (s *Stable) joined(ctx context.Context, mux *link.Mux, _ uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.unlinked != nil {
		s.unlinked()
		s.unlinked = nil
	}
	sess := &session{mux: mux, peer: mux.Link().Peer(), backups: map[string]*stm.Backup{}, fallback: map[string]*stm.Backup{}}
	s.sessions[sess.peer] = sess
	sess.wg.Add(1)
	go func() {
		defer sess.wg.Done()
		if err := s.runSession(ctx, sess); err != nil && ctx.Err() == nil {
			s.log.Error("STM session failed; dropping the link", zap.Error(err))
			_ = mux.Close()
		}
	}()
}

// runSession exchanges bank inventories, then mirrors the banks this node
// keeps and backs up those the partner keeps.
func (s *Stable) runSession(ctx context.Context, sess *session) error {
	if s.clustered() {
		return s.runClusterSession(ctx, sess)
	}
	chans, err := s.openChannels(sess.mux)
	if err != nil {
		return err
	}
	if err := s.awaitTakeovers(ctx, sess); err != nil {
		return err
	}
	// Both sides resolve from the two hellos as sent, so they agree even
	// if commits move our sequence numbers meanwhile.
	mine := s.inventory()
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HelloTimeout)
	theirs, err := exchangeHello(hctx, chans[link.ServiceSTM], mine)
	cancel()
	if err != nil {
		return err
	}
	if theirs.Node != s.cfg.PartnerName {
		return fmt.Errorf("%w: hello from %q, partner is %q", ErrHello, theirs.Node, s.cfg.PartnerName)
	}
	p := resolve(s.cfg.Name, s.cfg.PartnerName, mine.Banks, theirs.Banks)
	s.log.Info("STM banks resolved", zap.Strings("keep", p.keep), zap.Strings("drop", p.drop),
		zap.Strings("backup", p.serve))
	s.start(ctx, sess, p, chans)
	return nil
}

// openChannels opens the two STM services, each presented to stm as
// link.ServiceSTM.
func (s *Stable) openChannels(mux *link.Mux) (map[link.Service]link.Link, error) {
	chans := map[link.Service]link.Link{}
	for _, svc := range []link.Service{link.ServiceSTM, link.ServiceSTMPeer} {
		ch, err := mux.Channel(svc)
		if err != nil {
			return nil, fmt.Errorf("open STM service %d: %w", svc, err)
		}
		chans[svc] = stmLink{ch}
	}
	return chans, nil
}

// inventory lists the banks held as primary.
func (s *Stable) inventory() hello {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := hello{Node: s.cfg.Name}
	for name, hb := range s.banks {
		st := hb.bank.Stats()
		h.Banks = append(h.Banks, bankClaim{Name: name, Epoch: st.Epoch, Seq: st.Seq})
	}
	sort.Slice(h.Banks, func(i, j int) bool { return h.Banks[i].Name < h.Banks[j].Name })
	return h
}

// start carries out the plan: superseded banks are closed, the partner's
// banks get a fresh backup each, ours are attached to the partner's.
func (s *Stable) start(ctx context.Context, sess *session, p plan, chans map[link.Service]link.Link) {
	for _, name := range p.drop {
		s.dropBank(ctx, name)
	}
	used := map[link.Service]bool{}
	for _, name := range p.serve {
		mc := &mirrorChannel{sess: sess, bank: name, ch: chans[s.service(name)], svc: s.service(name)}
		used[s.service(name)] = true
		bk := s.newBackup(sess, name)
		sess.wg.Add(1)
		go func() { defer sess.wg.Done(); s.serveBackup(ctx, mc, bk) }()
	}
	for _, name := range p.keep {
		mc := &mirrorChannel{sess: sess, bank: name, ch: chans[s.service(name)], svc: s.service(name)}
		used[s.service(name)] = true
		sess.wg.Add(1)
		go func() { defer sess.wg.Done(); s.attach(ctx, mc) }()
	}
	for svc, ch := range chans {
		if !used[svc] {
			_ = ch.Close()
		}
	}
	s.mu.Lock()
	sess.ready = true
	s.mu.Unlock()
}

func (s *Stable) service(bank string) link.Service {
	return bankService(bank, s.cfg.Name, s.cfg.PartnerName)
}

// dropBank closes a bank whose partner copy has a newer epoch (ours was
// fenced by the partner's takeover during a partition, or is a restarted
// node's empty bank).
func (s *Stable) dropBank(ctx context.Context, name string) {
	s.mu.Lock()
	h := s.banks[name]
	delete(s.banks, name)
	s.mu.Unlock()
	if h == nil {
		return
	}
	st := h.bank.Stats()
	s.log.Warn("bank superseded by the partner's copy; stopping its work and closing ours", zap.String("bank", name),
		zap.Uint64("epoch", st.Epoch), zap.Uint64("seq", st.Seq), zap.Int("objects", st.Objects))
	if f := s.cfg.OnDrop; f != nil {
		f(ctx, name, h.bank)
	}
	_ = h.bank.Close()
}

func (s *Stable) newBackup(sess *session, name string) *stm.Backup {
	c := s.cfg.Backup
	if c.Logger == nil {
		c.Logger = s.log.With(zap.String("backup_of", name))
	}
	if c.Failpoint == nil {
		c.Failpoint = s.cfg.Failpoint
	}
	bk := stm.NewBackup(c)
	s.mu.Lock()
	sess.backups[name] = bk
	s.mu.Unlock()
	return bk
}

func (s *Stable) remoteConfig(name string) stm.RemoteConfig {
	c := s.cfg.Remote
	if c.Logger == nil {
		c.Logger = s.log.With(zap.String("mirror_of", name))
	}
	return c
}

// setMirror records a bank's mirror state if sess is still the live one.
func (s *Stable) setMirror(sess *session, name, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.banks[name]; h != nil && s.sessions[sess.peer] == sess && h.mirror != state {
		h.mirror, h.since, h.peer = state, s.cfg.Clock.Now(), sess.peer
		if state == MirrorLost || state == MirrorNone {
			h.peer = ""
		}
		if state == MirrorAttached {
			h.attaches++
		}
	}
}

// lost starts the takeover of every partner bank this node backs up,
// once the link's STM streams have stopped, and returns without waiting
// for the group (beside.go).
func (s *Stable) lost(ctx context.Context, d *heartbeat.Death, _ uint64) {
	sess := s.endSession(d.Peer)
	if s.clustered() {
		s.lostPeer(ctx, d, sess)
		return
	}
	s.mu.Lock()
	now := s.cfg.Clock.Now()
	held := make([]string, 0, len(s.banks))
	for name, h := range s.banks {
		h.mirror, h.since = MirrorNone, now
		held = append(held, name)
	}
	var copies map[string]*stm.Backup
	if sess != nil {
		copies = s.bestCopies(sess.backups, sess.fallback)
	}
	uctx, cancel := context.WithCancel(ctx)
	s.unlinked = cancel
	s.mu.Unlock()
	s.dropBackups(uctx, held)
	s.takeOverBeside(ctx, d, copies) // beside.go: the link loop goes on
}

// endSession removes the session of the link to peer and waits for its
// goroutines; it returns the session (nil if there was none).
func (s *Stable) endSession(peer string) *session {
	s.mu.Lock()
	sess := s.sessions[peer]
	delete(s.sessions, peer)
	s.mu.Unlock()
	if sess != nil {
		_ = sess.mux.Close() // already closed by the Node; makes sure
		sess.wg.Wait()
	}
	return sess
}

// bestCopy is the backup to take over: the current one, or, if a
// re-attach was still copying into it, the previous complete copy (it
// lacks only commits made during that copy).
func (s *Stable) bestCopy(name string, cur, prev *stm.Backup) *stm.Backup {
	if cur.Ready() || prev == nil || !prev.Ready() {
		return cur
	}
	s.log.Warn("the partner's new backup copy is incomplete; taking over the previous complete copy", zap.String("bank", name))
	return prev
}
