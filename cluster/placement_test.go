package cluster

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// The placement rule: a live node that is neither the primary nor a
// witness, with the fewest banks, ties by name.
func TestPlaceChoosesTheLiveNodeWithFewestBanks(t *testing.T) {
	s := NewState()
	s.Members["w"] = Member{Name: "w", Witness: true}
	s.Banks["a"] = BankState{Primary: "a", Backup: "b"}
	s.Banks["b"] = BankState{Primary: "b", Backup: "c"}
	s.Banks["c"] = BankState{Primary: "c"}
	s.Banks["d"] = BankState{Primary: "d"}
	for _, tc := range []struct {
		bank string
		live []string
		want string
	}{
		{"c", []string{"a", "b", "d"}, "a"},      // a:1 b:2 d:1 → a by name
		{"c", []string{"b", "d"}, "d"},           // the live one with fewer banks
		{"c", []string{"c", "w"}, ""},            // only the primary and the witness
		{"d", []string{"b", "c", "a"}, "a"},      // a:1 b:2 c:2
		{"e", []string{"b", "c", "w", "d"}, "d"}, // unknown bank: no primary to exclude
		{"a", nil, ""},
	} {
		require.Equal(t, tc.want, s.Place(tc.bank, tc.live), "%s among %v", tc.bank, tc.live)
	}
}

// A copy under way counts for its target, so two banks placed one after
// the other go to different nodes; a set backup clears the target.
func TestPlaceRecordsTheTargetAndCountsIt(t *testing.T) {
	g := NewMemGroup()
	ctx := context.Background()
	leases := map[string]*Lease{}
	for _, n := range []string{"a", "b", "c", "d"} {
		l, err := NewLease(LeaseConfig{Node: n, Consensus: g.Member(n)})
		require.NoError(t, err)
		_, err = l.Claim(ctx, n)
		require.NoError(t, err)
		leases[n] = l
	}
	ta, err := leases["a"].Place(ctx, "a", []string{"b", "c", "d"})
	require.NoError(t, err)
	require.Equal(t, "b", ta)
	tc, err := leases["c"].Place(ctx, "c", []string{"b", "d"})
	require.NoError(t, err)
	require.Equal(t, "d", tc, "b is a's copy target already")
	require.Equal(t, "b", g.Member("a").State().Banks["a"].Target)
	require.NoError(t, leases["a"].SetBackup(ctx, "a", "b"))
	st := g.Member("a").State()
	require.Equal(t, BankState{Primary: "a", Backup: "b", Epoch: 1, Mirrored: true}, st.Banks["a"])
	require.Equal(t, map[string]int{"a": 1, "b": 2, "c": 1, "d": 2}, st.Load())

	_, err = leases["b"].Place(ctx, "a", []string{"c"})
	require.ErrorIs(t, err, ErrRefused, "only the primary places its bank")
	_, err = leases["a"].Place(ctx, "a", []string{"a"})
	require.ErrorIs(t, err, ErrRefused, "no live node but the primary")
}
