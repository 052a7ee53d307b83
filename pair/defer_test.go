package pair

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/stm"
)

// Reference: §3.3 phase 2 — a group found in doubt by a takeover
// and deferred (StableConfig.Defer) stays undecided in the new primary for
// its owner: decided there later, before or after a new backup attached
// (re-protection while the group is in doubt), the outcome is the same on
// the new primary and on the new backup, which a second takeover shows.
func TestStableDeferredGroupDecidedAfterTakeoverAndReattach(t *testing.T) {
	net := newMemNet()
	deferFn := func(_ context.Context, bank string, _ *stm.Bank, gs []stm.GroupID) map[stm.GroupID]bool {
		assert.Equal(t, []stm.GroupID{7, 8, 9, 10}, gs) // not require: runs on the takeover goroutine
		return map[stm.GroupID]bool{7: bank == "beta", 8: true, 9: true}
	}
	a, b := startProtectedPair(t, net, StableConfig{Name: "alpha", Defer: deferFn})
	mb := model{}
	commit(t, b.st.Own(), mb, batch{"b", 1, 5})
	inDoubt(t, b.st.Own(), 7, put{50, "commit after reattach"})
	inDoubt(t, b.st.Own(), 8, put{51, "abort after reattach"})
	inDoubt(t, b.st.Own(), 9, put{52, "commit before reattach"})
	inDoubt(t, b.st.Own(), 10, put{53, "presumed abort"})

	net.setRefuse(true)
	b.crash()
	st := waitFor(t, a, "taken over", func(st StableStatus) bool { return st.Takeovers == 1 })
	require.Equal(t, 4, st.LastTakeover.InDoubt)
	require.Equal(t, 3, st.LastTakeover.Deferred)
	require.Equal(t, 0, st.LastTakeover.Committed)
	require.Equal(t, mb, dump(a.st.Bank("beta")), "deferred groups are not applied yet")
	ctx := context.Background()
	held := a.st.Bank("beta")
	for _, bs := range st.Banks {
		if bs.Name == "beta" {
			require.Equal(t, 3, bs.InDoubt, "deferred groups shown in the status")
		}
	}
	require.ErrorIs(t, held.Decide(ctx, 10, true), stm.ErrGroupDecided, "group 10 was presumed aborted")
	// Decided with no backup: applied on the primary (the decision is final).
	require.ErrorIs(t, held.Decide(ctx, 9, true), stm.ErrBackupLost)
	mb[52] = []byte("commit before reattach")
	require.Equal(t, mb, dump(held))

	// beta restarts and becomes the backup while groups 7 and 8 are in doubt.
	net.setRefuse(false)
	b = startMember(t, net, "beta", nil)
	waitFor(t, a, "re-protected", protects([]string{"alpha", "beta"}, nil))
	waitFor(t, b, "backup of both", protects(nil, []string{"alpha", "beta"}))
	require.NoError(t, held.Decide(ctx, 7, true))
	require.NoError(t, held.Decide(ctx, 8, false))
	mb[50] = []byte("commit after reattach")
	require.Equal(t, mb, dump(held))
	require.NoError(t, held.Update(ctx, func(tx *stm.Tx) error { return tx.Put(51, []byte("after")) }),
		"the aborted group released its lock")
	mb[51] = []byte("after")

	// alpha dies: beta's copy (the new backup) holds the same outcomes.
	net.setRefuse(true)
	a.crash()
	st = waitFor(t, b, "both taken over", func(st StableStatus) bool { return st.Takeovers == 2 })
	require.Equal(t, 0, st.LastTakeover.InDoubt, "no group left in doubt on the new backup")
	require.Equal(t, mb, dump(b.st.Bank("beta")))
	b.crash()
}
