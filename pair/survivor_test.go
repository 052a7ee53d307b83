package pair

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/cluster"
	"github.com/ftm-in-go/ftm/stm"
)

// testWait and testTick bound the conditions polled (not a timing
// assertion).
const (
	testWait = 15 * time.Second
	testTick = 5 * time.Millisecond
)

// groupLeases is a cluster.Lease as a pair's Leases (the node's adapter,
// in small).
type groupLeases struct{ l *cluster.Lease }

func mapGroupErr(err error) error {
	switch {
	case errors.Is(err, cluster.ErrNotBackup):
		return fmt.Errorf("%w: %w", ErrNotBackup, err)
	case errors.Is(err, cluster.ErrRefused):
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return err
}

func (g groupLeases) Claim(ctx context.Context, bank string) error {
	_, err := g.l.Claim(ctx, bank)
	return mapGroupErr(err)
}
func (g groupLeases) SetBackup(ctx context.Context, bank, backup string) error {
	return mapGroupErr(g.l.SetBackup(ctx, bank, backup))
}
func (g groupLeases) DropBackup(ctx context.Context, bank string) error {
	return mapGroupErr(g.l.DropBackup(ctx, bank))
}
func (g groupLeases) TakeOver(ctx context.Context, bank string) error {
	_, err := g.l.TakeOver(ctx, bank)
	return mapGroupErr(err)
}
func (g groupLeases) Alone(bank string) error { return g.l.Alone(bank) }

// startLeased starts a pair member whose Stable asks the in-memory group g.
func startLeased(t *testing.T, net testNet, g *cluster.MemGroup, name string) *member {
	t.Helper()
	return startLeasedWith(t, net, g, name, func(l Leases) Leases { return l })
}

// startLeasedWith is startLeased with the Stable asking wrap(its lease)
// (a test's gate in front of some of the group's answers).
func startLeasedWith(t *testing.T, net testNet, g *cluster.MemGroup, name string, wrap func(Leases) Leases) *member {
	t.Helper()
	l, err := cluster.NewLease(cluster.LeaseConfig{Node: name, Consensus: g.Member(name), Logger: zaptest.NewLogger(t).Named(name + ".lease")})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	m := startMemberCfg(t, net, StableConfig{Name: name, Leases: wrap(groupLeases{l})})
	m.st.ClaimOwn(ctx)
	stopNode := m.cancel
	m.cancel = func() { stopNode(); cancel(); <-done } // a crash stops its lease renewals too
	t.Cleanup(func() { cancel(); <-done })
	return m
}

// startLeasedPair starts alpha and beta under the group's leases and
// waits until each bank is mirrored to the other and the group records
// both backups.
func startLeasedPair(t *testing.T, net testNet, g *cluster.MemGroup) (a, b *member) {
	t.Helper()
	a, b = startLeased(t, net, g, "alpha"), startLeased(t, net, g, "beta")
	waitFor(t, a, "own bank protected", protects([]string{"alpha"}, []string{"beta"}))
	waitFor(t, b, "own bank protected", protects([]string{"beta"}, []string{"alpha"}))
	require.Eventually(t, func() bool {
		st := g.Member("alpha").State()
		return st.Banks["alpha"].Backup == "beta" && st.Banks["beta"].Backup == "alpha"
	}, testWait, testTick)
	return a, b
}

// tryCommit commits one write to bank b.
func tryCommit(b *stm.Bank, id stm.ID, v string) error {
	return b.Update(context.Background(), func(tx *stm.Tx) error { return tx.Put(id, []byte(v)) })
}

// Reference: §2.1 — after a failure "the backup machine executes both the
// failed machine's jobs and its own jobs"; §3.3.2 — a backup failure "does
// not affect the primary machine which is able to proceed". With the
// group's lease the survivor commits on both banks with no restart, and
// the restarted node rejoins as the backup of both and receives them.
func TestSurvivorCommitsBothBanksUnderTheLease(t *testing.T) {
	net, g := newMemNet(), cluster.NewMemGroup()
	a, b := startLeasedPair(t, net, g)
	ma, mb := model{}, model{}
	commit(t, a.st.Own(), ma, batch{"a1", 1, 10})
	commit(t, b.st.Own(), mb, batch{"b1", 1, 10})

	net.setRefuse(true)
	b.crash()
	waitFor(t, a, "beta's bank taken over, both commit alone", func(st StableStatus) bool {
		return st.Takeovers == 1 && len(st.Banks) == 2 && st.Banks[0].Alone && st.Banks[1].Alone
	})
	require.Equal(t, mb, dump(a.st.Bank("beta")))
	commit(t, a.st.Own(), ma, batch{"a2", 5, 5})
	commit(t, a.st.Bank("beta"), mb, batch{"b2", 5, 5})
	require.Equal(t, cluster.BankState{Primary: "alpha", Epoch: 2}, g.Member("alpha").State().Banks["beta"])

	net.setRefuse(false)
	b = startLeased(t, net, g, "beta")
	waitFor(t, a, "both banks protected again", protects([]string{"alpha", "beta"}, nil))
	waitFor(t, b, "backup of both banks", protects(nil, []string{"alpha", "beta"}))
	commit(t, a.st.Bank("beta"), mb, batch{"b3", 20, 2})
	require.Equal(t, ma, dump(a.st.Own()))
	require.Equal(t, mb, dump(a.st.Bank("beta")))
	a.crash()
	b.crash()
}

// Reference: doc.go, "Leases" — a node cut off the majority and from its
// partner never commits alone; the majority side takes its bank over
// after its lease expired, and on relinking the minority's copy is
// dropped: one history.
func TestMinorityNeverCommitsAloneAndLosesItsBank(t *testing.T) {
	net, g := newMemNet(), cluster.NewMemGroup()
	a, b := startLeasedPair(t, net, g)
	ma := model{}
	commit(t, a.st.Own(), ma, batch{"a1", 1, 10})
	oldA := a.st.Own()

	g.Cut("alpha")
	net.setRefuse(true)
	net.cutAll()
	waitFor(t, b, "alpha's bank taken over by the majority", func(st StableStatus) bool { return st.Takeovers == 1 })
	require.Error(t, tryCommit(oldA, 1, "minority"), "the minority commits nothing alone")
	require.Equal(t, ma, dump(b.st.Bank("alpha")))
	commit(t, b.st.Bank("alpha"), ma, batch{"a2", 3, 3})

	g.Heal("alpha")
	net.setRefuse(false)
	waitFor(t, b, "both banks protected by alpha again", protects([]string{"alpha", "beta"}, nil))
	waitFor(t, a, "alpha backs both up", protects(nil, []string{"alpha", "beta"}))
	require.Error(t, tryCommit(oldA, 1, "stale"), "the minority's copy was dropped")
	require.Equal(t, ma, dump(b.st.Bank("alpha")))
	a.crash()
	b.crash()
}
