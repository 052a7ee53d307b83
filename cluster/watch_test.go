package cluster

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A count watched since before the takeover was asked counts from when it
// was first seen: a primary silent for longer than ExpiryWait is taken
// over at once (the manual clock does not move during TakeOver), and a
// renewal seen meanwhile restarts the wait. Reference: watch.go.
func TestWatchedCountNeedsNoFreshWait(t *testing.T) {
	p := newPairGroup(t)
	p.b.watchCounts()
	p.advance(p.b.ExpiryWait())
	require.Equal(t, expiryWatch{}, p.b.watched("a", 0), "a watch at another count is fresh")
	st, err := p.b.TakeOver(p.ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "b", st.Primary)

	q := newPairGroup(t)
	q.b.watchCounts()
	q.advance(q.b.ExpiryWait() / 2)
	require.NoError(t, q.a.Renew(q.ctx))
	q.b.watchCounts()
	q.advance(q.b.ExpiryWait() / 2)
	w := q.b.watched("a", q.g.Member("b").State().Leases["a"])
	require.False(t, w.expired(q.clk.Now(), q.b.ExpiryWait()), "the renewal restarted the wait")
}
