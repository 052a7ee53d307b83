package pair

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/cluster"
	"github.com/ftm-in-go/ftm/stm"
)

// Reference: doc.go, "Leases" — a node restarted while its partner still
// waits for the group's lease to take its bank over must not keep the
// pair apart: its new process holds an empty copy, so the partner's
// backup copy wins, and the restarted node becomes the backup of both.
func TestRestartDuringThePartnersLeaseWait(t *testing.T) {
	net, g := newMemNet(), cluster.NewMemGroup()
	a, b := startLeasedPair(t, net, g)
	ma, mb := model{}, model{}
	commit(t, a.st.Own(), ma, batch{"a1", 1, 10})
	commit(t, b.st.Own(), mb, batch{"b1", 1, 10})

	b.crash()
	b = startLeased(t, net, g, "beta") // at once: alpha is still in its lease wait
	waitFor(t, a, "both banks protected by beta", protects([]string{"alpha", "beta"}, nil))
	waitFor(t, b, "beta backs both up", protects(nil, []string{"alpha", "beta"}))
	require.Equal(t, mb, dump(a.st.Bank("beta")), "the survivor's copy of beta's bank won")
	commit(t, a.st.Bank("beta"), mb, batch{"b2", 20, 2})
	require.Equal(t, ma, dump(a.st.Own()))
	a.crash()
	b.crash()
}

// gatedLeases holds every TakeOver until gate is closed.
type gatedLeases struct {
	Leases
	gate chan struct{}
}

func (g gatedLeases) TakeOver(ctx context.Context, bank string) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Leases.TakeOver(ctx, bank)
}

// Reference: doc.go, "Leases" — the pair's link loop never waits for the
// group: while alpha's takeover of beta's bank waits for the group, a beta
// restarted at once is linked again (alpha dials it), and the hello waits
// for the takeover, so alpha's copy of beta's bank wins over the restarted
// node's empty one.
func TestLinkLoopDoesNotWaitForTheGroup(t *testing.T) {
	net, g := newMemNet(), cluster.NewMemGroup()
	gate := make(chan struct{})
	a := startLeasedWith(t, net, g, "alpha", func(l Leases) Leases { return gatedLeases{l, gate} })
	b := startLeased(t, net, g, "beta")
	waitFor(t, a, "own bank protected", protects([]string{"alpha"}, []string{"beta"}))
	waitFor(t, b, "own bank protected", protects([]string{"beta"}, []string{"alpha"}))
	require.Eventually(t, func() bool { return g.Member("alpha").State().Banks["beta"].Backup == "alpha" }, testWait, testTick)
	mb := model{}
	commit(t, b.st.Own(), mb, batch{"b1", 1, 10})

	b.crash()
	b = startLeased(t, net, g, "beta")
	require.Eventually(t, func() bool { return net.dials() >= 2 }, testWait, testTick,
		"alpha dials the restarted beta while its takeover waits for the group")
	require.Zero(t, a.st.Status().Takeovers)
	close(gate)
	waitFor(t, a, "both banks protected by beta", protects([]string{"alpha", "beta"}, nil))
	waitFor(t, b, "beta backs both up", protects(nil, []string{"alpha", "beta"}))
	require.Equal(t, mb, dump(a.st.Bank("beta")), "alpha's copy of beta's bank won")
	a.crash()
	b.crash()
}

// gatedClaims holds every Claim until gate is closed.
type gatedClaims struct {
	Leases
	gate chan struct{}
}

func (g gatedClaims) Claim(ctx context.Context, bank string) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Leases.Claim(ctx, bank)
}

// ownAttached reports whether st shows the node's own bank name mirrored.
func ownAttached(name string) func(StableStatus) bool {
	return func(st StableStatus) bool {
		for _, bs := range st.Banks {
			if bs.Name == name && bs.Role != RoleBackup && bs.Mirror == MirrorAttached {
				return true
			}
		}
		return false
	}
}

// Reference: doc.go, "Leases" — a node's own bank is mirrored, so commits,
// only once the group records the node's claim: a process killed before
// that has committed nothing, so a restarted one that finds no record and
// claims an empty bank loses nothing its partner held (the partner's copy
// was dropped as stale, and the sieve's task with it).
func TestOwnBankCommitsNothingBeforeItsClaimIsRecorded(t *testing.T) {
	net, g := newMemNet(), cluster.NewMemGroup()
	gate := make(chan struct{})
	a := startLeasedWith(t, net, g, "alpha", func(l Leases) Leases { return gatedClaims{l, gate} })
	b := startLeased(t, net, g, "beta")
	waitFor(t, b, "beta's own bank protected", ownAttached("beta"))
	require.Never(t, func() bool { return ownAttached("alpha")(a.st.Status()) }, 300*time.Millisecond, 5*time.Millisecond,
		"alpha's bank is mirrored before the group recorded its claim")
	err := a.st.Own().Update(context.Background(), func(tx *stm.Tx) error { return tx.Put(1, []byte("early")) })
	require.ErrorIs(t, err, stm.ErrNoBackup, "alpha's bank commits nothing before its claim is recorded")
	close(gate)
	waitFor(t, a, "alpha's bank protected once its claim is recorded", protects([]string{"alpha"}, []string{"beta"}))
	require.Equal(t, "alpha", g.Member("beta").State().Banks["alpha"].Primary)
	commit(t, a.st.Own(), model{}, batch{"a1", 1, 5})
	a.crash()
	b.crash()
}
