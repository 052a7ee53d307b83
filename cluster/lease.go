package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/clock"
)

// Lease defaults (LeaseConfig): a renewal every 80 ms keeps a 400 ms lease;
// an observer waits ExpiryWait = Duration·(1+Drift)/(1−Drift) + Margin =
// 400·1.05/0.95 + 60 ≈ 502 ms of its own clock before it takes a bank over.
const (
	DefaultLeaseDuration = 400 * time.Millisecond
	DefaultLeaseDrift    = 0.05
	DefaultLeaseMargin   = 60 * time.Millisecond
	DefaultPoll          = 10 * time.Millisecond
)

// ErrNoLease: this node holds no valid lease for committing the bank
// alone (the lease expired, or the bank has a backup, or another node
// holds it).
var ErrNoLease = errors.New("cluster: no lease to commit alone")

// ErrNotBackup: a takeover was asked of a node that is not the bank's backup.
var ErrNotBackup = errors.New("cluster: not the bank's backup")

// LeaseConfig configures a node's lease.
type LeaseConfig struct {
	Node      string // this node
	Consensus Consensus
	Clock     clock.Clock   // nil: clock.Real
	Duration  time.Duration // the lease, from the start of a renewal (default DefaultLeaseDuration)
	Renew     time.Duration // period of renewals (default Duration/5)
	// Drift bounds any clock's rate error (default DefaultLeaseDrift: 5 %).
	Drift float64
	// Margin is added to an observer's wait on top of the drift (default
	// DefaultLeaseMargin): it covers the time from a holder's last lease
	// check to the effect it guards (a commit applied, a reply sent).
	Margin time.Duration
	Poll   time.Duration // how often TakeOver looks at the state (default DefaultPoll)
	// OnChange, when set, is called when the lease is gained (true) or has
	// expired (false), from the lease's own goroutine: the layer above
	// stops the work that needs the lease (stable tasks on banks with no
	// backup) before anyone may take those banks over.
	OnChange func(held bool)
	Logger   *zap.Logger
}

func (c *LeaseConfig) setDefaults() error {
	if c.Node == "" || c.Consensus == nil {
		return fmt.Errorf("%w: a lease needs a node name and a consensus member", ErrConfig)
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Duration <= 0 {
		c.Duration = DefaultLeaseDuration
	}
	if c.Renew <= 0 {
		c.Renew = c.Duration / 5
	}
	if c.Drift <= 0 || c.Drift >= 0.5 {
		c.Drift = DefaultLeaseDrift
	}
	if c.Margin <= 0 {
		c.Margin = DefaultLeaseMargin
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return nil
}

// Lease is one node's lease (doc.go, "Leases"): renewed through the
// group, it lets the node commit alone the banks it is primary of with no
// backup; it also carries the node's proposals about banks (Claim,
// SetBackup, DropBackup, TakeOver).
type Lease struct {
	cfg LeaseConfig
	log *zap.Logger

	mu      sync.Mutex             // guards the fields below
	start   time.Time              // start of the renewal that granted the lease
	until   time.Time              // the lease is valid before until (zero: never held)
	alone   map[string]bool        // banks the grant lets this node commit alone
	count   uint64                 // this node's lease count at the grant
	held    bool                   // as last reported to OnChange
	renewed uint64                 // renewals that succeeded
	failed  uint64                 // renewals that failed
	timer   clock.Timer            // fires when the lease would expire
	incarn  uint64                 // this process's incarnation (random, fixed)
	seen    map[string]expiryWatch // other nodes' lease counts, watched from Run (watch.go)
}

// NewLease checks cfg and returns a lease not yet held.
func NewLease(cfg LeaseConfig) (*Lease, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &Lease{cfg: cfg, log: cfg.Logger.With(zap.String("node", cfg.Node)), alone: map[string]bool{},
		incarn: rand.Uint64() | 1}, nil
}

// ExpiryWait is how long an observer waits, on its own clock, after it
// first saw a holder's lease count, before it may take the holder's banks
// over: longer than the holder's lease on any clock within Drift, plus
// Margin.
func (l *Lease) ExpiryWait() time.Duration {
	d := float64(l.cfg.Duration) * (1 + l.cfg.Drift) / (1 - l.cfg.Drift)
	return time.Duration(d) + l.cfg.Margin
}

// Run renews the lease every Renew until ctx ends.
func (l *Lease) Run(ctx context.Context) {
	for {
		_ = l.Renew(ctx)
		l.watchCounts()
		select {
		case <-ctx.Done():
			l.mu.Lock()
			if l.timer != nil {
				l.timer.Stop()
			}
			l.mu.Unlock()
			return
		case <-l.cfg.Clock.After(l.cfg.Renew):
		}
	}
}

// Renew renews the lease once: it is valid for Duration from the moment
// the renewal started, if the group commits it.
func (l *Lease) Renew(ctx context.Context) error {
	t0 := l.cfg.Clock.Now()
	rctx, cancel := context.WithTimeout(ctx, l.cfg.Duration)
	defer cancel()
	res, err := l.cfg.Consensus.Propose(rctx, Command{Op: OpRenew, Node: l.cfg.Node, Incarnation: l.incarn})
	if err != nil {
		l.mu.Lock()
		l.failed++
		l.mu.Unlock()
		return fmt.Errorf("renew the lease of %s: %w", l.cfg.Node, err)
	}
	l.grant(t0, res)
	return nil
}

// grant records a renewal that started at t0, unless a later one (a
// higher count) already did, and arms the expiry timer.
func (l *Lease) grant(t0 time.Time, res Result) {
	l.mu.Lock()
	l.renewed++
	if res.Count < l.count || t0.Before(l.start) { // a later renewal already granted
		l.mu.Unlock()
		return
	}
	l.start, l.until, l.count = t0, t0.Add(l.cfg.Duration), res.Count
	l.alone = map[string]bool{}
	for _, b := range res.Alone {
		l.alone[b] = true
	}
	if l.timer != nil {
		l.timer.Stop()
	}
	l.timer = l.cfg.Clock.AfterFunc(l.until.Sub(l.cfg.Clock.Now()), l.checkExpiry)
	gained := !l.held
	l.held = true
	l.mu.Unlock()
	if gained {
		l.log.Info("lease held", zap.Uint64("count", res.Count), zap.Strings("alone", res.Alone))
		l.changed(true)
	}
}

// checkExpiry runs when the lease would expire: if no renewal extended it,
// the lease is lost.
func (l *Lease) checkExpiry() {
	l.mu.Lock()
	lost := l.held && !l.cfg.Clock.Now().Before(l.until)
	if lost {
		l.held = false
	}
	l.mu.Unlock()
	if lost {
		l.log.Warn("lease expired: no majority heard from us in time; work that needs it stops")
		l.changed(false)
	}
}

func (l *Lease) changed(held bool) {
	if f := l.cfg.OnChange; f != nil {
		f(held)
	}
}

// Held reports whether the lease is valid now.
func (l *Lease) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg.Clock.Now().Before(l.until)
}

// Alone returns nil if this node may commit bank alone now: its lease is
// valid and, at the renewal that granted it, the node was the bank's
// primary and the bank had no backup. Otherwise ErrNoLease, wrapped.
func (l *Lease) Alone(bank string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Clock.Now()
	switch {
	case !now.Before(l.until):
		return fmt.Errorf("%w: %s's lease expired or was never granted", ErrNoLease, l.cfg.Node)
	case !l.alone[bank]:
		return fmt.Errorf("%w: bank %s is not held by %s alone", ErrNoLease, bank, l.cfg.Node)
	}
	return nil
}

// propose proposes c and turns a refusal into ErrRefused.
func (l *Lease) propose(ctx context.Context, c Command) (Result, error) {
	c.Node, c.Incarnation = l.cfg.Node, l.incarn
	res, err := l.cfg.Consensus.Propose(ctx, c)
	if err != nil {
		return res, fmt.Errorf("%v %s: %w", c.Op, c.Bank, err)
	}
	if !res.OK {
		return res, fmt.Errorf("%w: %v %s: %s", ErrRefused, c.Op, c.Bank, res.Reason)
	}
	return res, nil
}

// Claim records this node as the primary of bank if no node holds it yet,
// and returns the bank's state either way.
func (l *Lease) Claim(ctx context.Context, bank string) (BankState, error) {
	res, err := l.propose(ctx, Command{Op: OpClaim, Bank: bank})
	if errors.Is(err, ErrRefused) {
		return res.Bank, nil
	}
	return res.Bank, err
}

// SetBackup records backup as the backup of bank, which this node holds:
// from then on the bank no longer commits alone and backup may take it
// over when this node's lease expires.
func (l *Lease) SetBackup(ctx context.Context, bank, backup string) error {
	l.forget(bank) // before: a commit alone now would be missing from backup's copy
	_, err := l.propose(ctx, Command{Op: OpSetBackup, Bank: bank, Backup: backup})
	return err
}

// DropBackup records that bank, which this node holds, has no backup any
// more, then renews the lease so that the bank may commit alone.
func (l *Lease) DropBackup(ctx context.Context, bank string) error {
	if _, err := l.propose(ctx, Command{Op: OpDropBackup, Bank: bank}); err != nil {
		return err
	}
	return l.Renew(ctx)
}

// forget stops bank committing alone until the next renewal says again.
func (l *Lease) forget(bank string) {
	l.mu.Lock()
	delete(l.alone, bank)
	l.mu.Unlock()
}

// LeaseStatus is a snapshot for operators.
type LeaseStatus struct {
	Node     string        `json:"node"`
	Held     bool          `json:"held"`
	Until    time.Time     `json:"until,omitzero"`
	Alone    []string      `json:"alone,omitempty"` // banks it may commit alone
	Count    uint64        `json:"count"`
	Renewed  uint64        `json:"renewed"`
	Failed   uint64        `json:"failed"`
	Duration time.Duration `json:"duration_ns"`
	Wait     time.Duration `json:"expiry_wait_ns"`
}

// Status returns the lease's state.
func (l *Lease) Status() LeaseStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := LeaseStatus{Node: l.cfg.Node, Held: l.cfg.Clock.Now().Before(l.until), Until: l.until, Count: l.count,
		Renewed: l.renewed, Failed: l.failed, Duration: l.cfg.Duration, Wait: l.ExpiryWait()}
	for b := range l.alone {
		st.Alone = append(st.Alone, b)
	}
	slices.Sort(st.Alone)
	return st
}

// State is the consensus member's applied state.
func (l *Lease) State() State { return l.cfg.Consensus.State() }
