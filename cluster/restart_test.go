package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel/clock"
)

// manualLeases returns a maker of leases of g's members on one manual
// clock that never moves (no lease wait ever ends by time).
func manualLeases(t *testing.T, g *MemGroup) func(node string) *Lease {
	clk := clock.NewManual(time.Unix(1000, 0))
	return func(node string) *Lease {
		l, err := NewLease(LeaseConfig{Node: node, Consensus: g.Member(node), Clock: clk})
		require.NoError(t, err)
		return l
	}
}

// A primary killed before its first renewal was applied (it had claimed
// its bank and recorded its backup) and restarted at once: the new
// process's renewals must not fence the backup's takeover (its copy is
// empty; the backup's must win). Its first command orphans the bank, and
// the backup takes it over at once, while the new process keeps renewing.
func TestPrimaryRestartedBeforeItsFirstRenewalIsTakenOver(t *testing.T) {
	g := NewMemGroup()
	ctx, lease := context.Background(), manualLeases(t, g)
	a, b := lease("a"), lease("b")
	_, err := a.Claim(ctx, "a")
	require.NoError(t, err)
	require.NoError(t, a.SetBackup(ctx, "a", "b"))
	require.NoError(t, b.Renew(ctx))

	again := lease("a") // a's process died before it renewed; a new one runs
	require.NoError(t, again.Renew(ctx))
	require.True(t, g.Member("b").State().Banks["a"].Orphan, "the new process's renewal orphans the old one's bank")
	for range 3 {
		require.NoError(t, again.Renew(ctx))
	}
	st, err := b.TakeOver(ctx, "a") // the manual clock never moves: no lease wait
	require.NoError(t, err)
	require.Equal(t, BankState{Primary: "b", Epoch: 2}, st)
	_, err = again.Claim(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "b", g.Member("a").State().Banks["a"].Primary, "the restarted node claims nothing held")
	require.ErrorIs(t, again.Alone("a"), ErrNoLease)
}

// A primary killed after it claimed its bank but before its backup was
// recorded (the bank never committed alone: Mirrored), and restarted at
// once: the new process may not claim the orphan back with its empty copy
// (the partner mirrored every commit), and the partner takes it over at
// once.
func TestRestartedPrimaryDoesNotReclaimAMirroredOrphan(t *testing.T) {
	g := NewMemGroup()
	ctx, lease := context.Background(), manualLeases(t, g)
	a, b := lease("a"), lease("b")
	_, err := a.Claim(ctx, "a")
	require.NoError(t, err)
	require.NoError(t, a.Renew(ctx))

	again := lease("a")
	_, err = again.Claim(ctx, "a")
	require.NoError(t, err)
	require.NoError(t, again.Renew(ctx))
	require.True(t, g.Member("a").State().Banks["a"].Orphan, "the restarted node did not claim it back")
	st, err := b.TakeOver(ctx, "a") // the manual clock never moves: no lease wait
	require.NoError(t, err)
	require.Equal(t, "b", st.Primary)
}
