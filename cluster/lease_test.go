package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel/clock"
)

// pairGroup is two nodes a and b of a pair plus a witness w, on one
// in-memory group and one manual clock: a is primary of bank "a" with b
// as its backup, and the other way round.
type pairGroup struct {
	g     *MemGroup
	clk   *clock.Manual
	a, b  *Lease
	ctx   context.Context
	lostA chan bool
}

func newPairGroup(t *testing.T) *pairGroup {
	t.Helper()
	p := &pairGroup{g: NewMemGroup(), clk: clock.NewManual(time.Unix(1000, 0)), ctx: context.Background(), lostA: make(chan bool, 8)}
	var err error
	p.a, err = NewLease(LeaseConfig{Node: "a", Consensus: p.g.Member("a"), Clock: p.clk, OnChange: func(h bool) { p.lostA <- h }})
	require.NoError(t, err)
	p.b, err = NewLease(LeaseConfig{Node: "b", Consensus: p.g.Member("b"), Clock: p.clk})
	require.NoError(t, err)
	for _, l := range []*Lease{p.a, p.b} {
		_, err := l.Claim(p.ctx, l.cfg.Node)
		require.NoError(t, err)
	}
	require.NoError(t, p.a.SetBackup(p.ctx, "a", "b"))
	require.NoError(t, p.b.SetBackup(p.ctx, "b", "a"))
	require.NoError(t, p.a.Renew(p.ctx))
	require.NoError(t, p.b.Renew(p.ctx))
	return p
}

// advance moves the clock on in small steps, so timers fire in order.
func (p *pairGroup) advance(d time.Duration) {
	for step := 5 * time.Millisecond; d > 0; d -= step {
		p.clk.Advance(min(step, d))
	}
}

// A bank with a backup is never committed alone: the lease covers only
// banks the group records with no backup.
func TestLeaseCoversOnlyBanksWithoutBackup(t *testing.T) {
	p := newPairGroup(t)
	require.True(t, p.a.Held())
	require.ErrorIs(t, p.a.Alone("a"), ErrNoLease, "a has a backup")
	require.NoError(t, p.a.DropBackup(p.ctx, "a"))
	require.NoError(t, p.a.Alone("a"))
	require.ErrorIs(t, p.a.Alone("b"), ErrNoLease, "a is not b's primary")
	require.NoError(t, p.a.SetBackup(p.ctx, "a", "b"))
	require.ErrorIs(t, p.a.Alone("a"), ErrNoLease, "a backup is set again")
}

// The lease is valid for Duration from the start of the renewal the group
// committed, and no longer; OnChange reports it gained, then expired.
func TestLeaseExpiresWithoutRenewal(t *testing.T) {
	p := newPairGroup(t)
	require.True(t, <-p.lostA)
	require.NoError(t, p.a.DropBackup(p.ctx, "a"))
	p.advance(DefaultLeaseDuration - 5*time.Millisecond)
	require.NoError(t, p.a.Alone("a"))
	p.advance(5 * time.Millisecond)
	require.ErrorIs(t, p.a.Alone("a"), ErrNoLease)
	require.False(t, p.a.Held())
	require.False(t, <-p.lostA, "OnChange must report the expiry")
}

// A node cut off the majority cannot renew: its lease expires, and it
// stops (OnChange false), before its partner may take its bank over.
// Reference: doc.go, "Leases".
func TestMinorityStopsBeforeMajorityTakesOver(t *testing.T) {
	p := newPairGroup(t)
	<-p.lostA
	p.g.Cut("a")
	require.Error(t, p.a.Renew(p.ctx), "a minority cannot renew")

	type taken struct {
		at  time.Time
		err error
	}
	done := make(chan taken, 1)
	go func() {
		_, err := p.b.TakeOver(p.ctx, "a")
		done <- taken{p.clk.Now(), err}
	}()
	start := p.clk.Now()
	var stoppedAt time.Time
	for {
		select {
		case h := <-p.lostA:
			require.False(t, h)
			stoppedAt = p.clk.Now()
			continue
		case tk := <-done:
			require.NoError(t, tk.err)
			require.False(t, stoppedAt.IsZero(), "the majority took over before the minority stopped")
			require.True(t, stoppedAt.Before(tk.at), "stopped at %v, taken over at %v", stoppedAt, tk.at)
			require.GreaterOrEqual(t, tk.at.Sub(start), p.b.ExpiryWait())
			st := p.g.Member("b").State().Banks["a"]
			require.Equal(t, BankState{Primary: "b", Epoch: 2}, st)
			require.NoError(t, p.b.Alone("a"), "the taker commits a alone")
			return
		default:
		}
		waitParked(p.clk)
		p.advance(5 * time.Millisecond)
		require.Less(t, p.clk.Now().Sub(start), 10*time.Second, "no takeover")
	}
}

// waitParked waits until some goroutine waits on the manual clock.
func waitParked(c *clock.Manual) {
	for i := 0; i < 1000 && c.Pending() == 0; i++ {
		time.Sleep(100 * time.Microsecond)
	}
}

// A holder that keeps renewing is never taken over: each renewal restarts
// the taker's wait, and a takeover proposed with a stale count is refused.
func TestRenewalsFenceTheTakeover(t *testing.T) {
	p := newPairGroup(t)
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := p.b.TakeOver(ctx, "a"); done <- err }()
	for range 300 { // 1.5 s of renewals every 5 ms, far past ExpiryWait
		waitParked(p.clk)
		require.NoError(t, p.a.Renew(p.ctx))
		p.clk.Advance(5 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("took over a renewing holder: %v", err)
	default:
	}
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	require.Equal(t, "a", p.g.Member("a").State().Banks["a"].Primary)

	st := p.g.Member("a").State()
	res := st.Apply(Command{Op: OpTakeover, Node: "b", Bank: "a", Count: st.Leases["a"] - 1})
	require.False(t, res.OK, "a takeover on a stale count is refused")
}

// Once the primary recorded that its bank has no backup (its partner
// died), the old backup may never take it over: its copy is stale.
func TestDroppedBackupCannotTakeOver(t *testing.T) {
	p := newPairGroup(t)
	require.NoError(t, p.a.DropBackup(p.ctx, "a"))
	done := make(chan error, 1)
	go func() { _, err := p.b.TakeOver(p.ctx, "a"); done <- err }()
	for {
		select {
		case err := <-done:
			require.True(t, errors.Is(err, ErrNotBackup), "got %v", err)
			require.Equal(t, "a", p.g.Member("a").State().Banks["a"].Primary)
			return
		default:
		}
		waitParked(p.clk)
		p.advance(5 * time.Millisecond)
	}
}

// A taker whose member lags (a restarted member catching up) still waits
// the whole ExpiryWait after the count it learns from the group's refusal,
// and its stale view never refuses the takeover by itself.
func TestTakeOverLearnsTheCountFromTheGroup(t *testing.T) {
	p := newPairGroup(t)
	p.g.Cut("b") // b's view is frozen with a's count as it is now
	p.g.Heal("b")
	lagging := &laggingMember{Consensus: p.g.Member("b"), frozen: p.g.Member("b").State()}
	b, err := NewLease(LeaseConfig{Node: "b", Consensus: lagging, Clock: p.clk})
	require.NoError(t, err)
	require.NoError(t, p.a.Renew(p.ctx)) // the group's count moves on; b's view does not
	done := make(chan time.Time, 1)
	go func() { _, err := b.TakeOver(p.ctx, "a"); require.NoError(t, err); done <- p.clk.Now() }()
	start := p.clk.Now()
	for {
		select {
		case at := <-done:
			require.GreaterOrEqual(t, at.Sub(start), 2*b.ExpiryWait(), "one wait on the stale count, one on the count learned")
			return
		default:
		}
		waitParked(p.clk)
		p.advance(5 * time.Millisecond)
	}
}

// laggingMember is a member whose applied state is stuck in the past.
type laggingMember struct {
	Consensus
	frozen State
}

func (m *laggingMember) State() State { return m.frozen.Clone() }

// A primary that restarted (a new process renews its node's lease) no
// longer holds its banks: they are orphans, taken over by their backup at
// once, and never committed alone by the new process.
func TestRestartedPrimaryOrphansItsBanks(t *testing.T) {
	p := newPairGroup(t)
	again, err := NewLease(LeaseConfig{Node: "a", Consensus: p.g.Member("a"), Clock: p.clk})
	require.NoError(t, err)
	require.NoError(t, again.Renew(p.ctx))
	require.ErrorIs(t, again.Alone("a"), ErrNoLease)
	b, err := p.b.TakeOver(p.ctx, "a") // no wait: the manual clock never moves
	require.NoError(t, err)
	require.Equal(t, BankState{Primary: "b", Epoch: 2}, b)
	_, err = again.Claim(p.ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "b", p.g.Member("a").State().Banks["a"].Primary, "the restarted node claims nothing held")
}

// A bank that never committed alone (claimed, its backup not recorded
// yet) does not commit alone, and when its primary dies before recording
// its backup, the partner holding a copy may still take it over, after
// the lease wait: every commit the bank made went through that partner.
func TestMirroredBankNeverAloneAndStillTakenOver(t *testing.T) {
	g, clk := NewMemGroup(), clock.NewManual(time.Unix(1000, 0))
	a, err := NewLease(LeaseConfig{Node: "a", Consensus: g.Member("a"), Clock: clk})
	require.NoError(t, err)
	b, err := NewLease(LeaseConfig{Node: "b", Consensus: g.Member("b"), Clock: clk})
	require.NoError(t, err)
	ctx := context.Background()
	_, err = a.Claim(ctx, "a")
	require.NoError(t, err)
	require.NoError(t, a.Renew(ctx))
	require.ErrorIs(t, a.Alone("a"), ErrNoLease, "a fresh bank commits only mirrored")
	done := make(chan BankState, 1)
	go func() { st, err := b.TakeOver(ctx, "a"); require.NoError(t, err); done <- st }()
	start := clk.Now()
	for {
		select {
		case st := <-done:
			require.Equal(t, "b", st.Primary)
			require.GreaterOrEqual(t, clk.Now().Sub(start), b.ExpiryWait())
			return
		default:
		}
		waitParked(clk)
		clk.Advance(5 * time.Millisecond)
	}
}

// A bank the group never heard of (its primary died before claiming it)
// never committed alone: the node holding its copy takes it over at once.
func TestUnknownBankIsTakenOverAtOnce(t *testing.T) {
	g, clk := NewMemGroup(), clock.NewManual(time.Unix(1000, 0))
	b, err := NewLease(LeaseConfig{Node: "b", Consensus: g.Member("b"), Clock: clk})
	require.NoError(t, err)
	st, err := b.TakeOver(context.Background(), "a") // the manual clock never moves
	require.NoError(t, err)
	require.Equal(t, BankState{Primary: "b", Epoch: 1}, st)
}

// A proposal retried after it was applied (its reply lost, its apply
// timed out on a loaded leader) is answered with the first result and
// applied once: a renewal counts once, a claim is not refused as held.
func TestRetriedProposalAppliedOnce(t *testing.T) {
	s := NewState()
	renew := Command{Op: OpRenew, Node: "a", ID: 7}
	first := s.Apply(renew)
	again := s.Apply(renew)
	require.Equal(t, first, again)
	require.Equal(t, uint64(1), s.Leases["a"])
	claim := Command{Op: OpClaim, Node: "a", Bank: "a", ID: 8}
	require.True(t, s.Apply(claim).OK)
	require.True(t, s.Apply(claim).OK, "the retried claim is answered as granted")
	require.Equal(t, uint64(1), s.Banks["a"].Epoch)
	require.False(t, s.Apply(Command{Op: OpClaim, Node: "a", Bank: "a", ID: 9}).OK, "a new claim of a held bank is still refused")
	c := s.Clone()
	c.Apply(Command{Op: OpRenew, Node: "a", ID: 10})
	require.Len(t, s.Recent["a"], 3, "a clone's commands do not reach the original")
	for i := range uint64(2 * recentKept) {
		s.Apply(Command{Op: OpRenew, Node: "b", ID: 100 + i})
	}
	require.Len(t, s.Recent["b"], recentKept)
}
