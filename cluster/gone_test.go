package cluster

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// A backup that proved its primary's process gone takes the bank over at
// once, though the primary's lease count never stood still (the manual
// clock does not move), and may commit it alone at once: the takeover
// renewed its lease. A primary that recorded its bank without backup is
// never taken over, gone or not. Reference: gone.go.
func TestGoneTakeoverNeedsNoLeaseWait(t *testing.T) {
	p := newPairGroup(t)
	require.NoError(t, p.a.Renew(p.ctx))
	st, err := p.b.TakeOverGone(p.ctx, "a")
	require.NoError(t, err)
	require.Equal(t, BankState{Primary: "b", Epoch: 2}, st)
	require.NoError(t, p.b.Alone("a"), "the takeover granted the lease for the bank")
	require.ErrorIs(t, p.a.Alone("a"), ErrNoLease)

	require.NoError(t, p.b.DropBackup(p.ctx, "b")) // b commits its own bank alone now
	_, err = p.a.TakeOverGone(p.ctx, "b")
	require.True(t, errors.Is(err, ErrNotBackup), "got %v", err)
	require.Equal(t, "b", p.g.Member("a").State().Banks["b"].Primary)
}
