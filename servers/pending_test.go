package servers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
	"github.com/stretchr/testify/require"
)

// stableID returns the id bound to a stable name of the servers as tx
// sees it (0, where nothing is, when none is).
func stableID(tx *stm.Tx, name string) stm.ID {
	id, _, _ := stableNames.Lookup(tx, name)
	return id
}

// pendingGroups are the groups pendingBank leaves in doubt.
var pendingGroups = []stm.GroupID{7, 8, 9, 10, 11, 12}

// pendingBank fills a bank with n opaque objects and the records and
// states of servers, with S of each precommitted into a group left in
// doubt: kv precommitted (group 7), kv2 saved the decision without
// applying it (group 8), app's record names no group though its S is in
// group 11, a record stored under another server's name (group 9), a
// record of kv4 at an unnamed id (group 10), and group 12 holding only
// objects that are no server's S. Only 7 and 8 are the units' own.
func pendingBank(tb testing.TB, n int) *stm.Bank {
	ctx := context.Background()
	b, _ := stmtest.Mirrored(tb)
	rng := rand.New(rand.NewPCG(1, 2))
	opaque := make([]stm.ID, n)
	require.NoError(tb, b.Update(ctx, func(tx *stm.Tx) error {
		for i := range opaque {
			v := make([]byte, 64+rng.IntN(1024))
			for j := range v {
				v[j] = byte(rng.Uint32())
			}
			var err error
			if opaque[i], err = tx.Create(v); err != nil {
				return err
			}
		}
		return nil
	}))
	// rec: the record of a unit in state st whose S incarnation gInc
	// last precommitted into group.
	rec := func(st ru.State, group, gInc uint64) []byte {
		v, err := stm.Encode(&unitRecord{State: &st, Group: group, GroupInc: gInc})
		require.NoError(tb, err)
		return v
	}
	named := func(name string, v []byte) {
		id, err := objectID(ctx, b, name)
		require.NoError(tb, err)
		require.NoError(tb, b.Update(ctx, func(tx *stm.Tx) error { return tx.Put(id, v) }))
	}
	named("ru:kv", rec(ru.State{Name: "kv", Inc: 3, Phase: ru.Precommitted}, 7, 3))
	named("ru:kv2", rec(ru.State{Name: "kv2", Inc: 4, Phase: ru.Running}, 8, 3))
	named("ru:app", rec(ru.State{Name: "app", Inc: 2, Phase: ru.Precommitted}, 0, 0))
	named("ru:other", rec(ru.State{Name: "kv3", Inc: 2, Phase: ru.Precommitted}, 9, 2))
	require.NoError(tb, b.Update(ctx, func(tx *stm.Tx) error {
		_, err := tx.Create(rec(ru.State{Name: "kv4", Inc: 2, Phase: ru.Precommitted}, 10, 2))
		return err
	}))
	precommit := func(g stm.GroupID, ids ...stm.ID) {
		tx := b.Begin()
		for _, id := range ids {
			require.NoError(tb, tx.Put(id, []byte("S")))
		}
		require.NoError(tb, tx.Precommit(ctx, g))
	}
	dataOf := func(server string) stm.ID {
		id, err := objectID(ctx, b, "data:"+server)
		require.NoError(tb, err)
		return id
	}
	precommit(7, dataOf("kv"))
	precommit(8, opaque[0], dataOf("kv2"))
	precommit(9, dataOf("other"))
	precommit(10, dataOf("kv4"))
	precommit(11, dataOf("app"))
	precommit(12, opaque[1:min(n, 100)]...)
	return b
}

func TestPendingGroupsReadsUnitRecordsOnly(t *testing.T) {
	b := pendingBank(t, 50)
	got, err := PendingGroups(context.Background(), b, pendingGroups)
	require.NoError(t, err)
	require.Equal(t, map[stm.GroupID]bool{7: true, 8: true}, got)
	got, err = PendingGroups(context.Background(), b, []stm.GroupID{8, 12, 99})
	require.NoError(t, err)
	require.Equal(t, map[stm.GroupID]bool{8: true}, got, "only the groups asked about")
	got, err = PendingGroups(context.Background(), b, nil)
	require.NoError(t, err)
	require.Empty(t, got)
	_, err = PendingGroups(context.Background(), nil, pendingGroups)
	require.Error(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = PendingGroups(ctx, b, pendingGroups)
	require.ErrorIs(t, err, context.Canceled)
}

// TestGroupServersNamesTheServersItsTransactionsWrite: the servers whose
// S a group in doubt writes, whatever their records say; none for a
// group writing no server's S or not running.
func TestGroupServersNamesTheServersItsTransactionsWrite(t *testing.T) {
	b := pendingBank(t, 50)
	for g, want := range map[stm.GroupID][]string{7: {"kv"}, 8: {"kv2"}, 9: {"other"}, 11: {"app"}, 12: nil, 99: nil} {
		got, err := GroupServers(b, g)
		require.NoError(t, err)
		require.Equal(t, want, got, "group %d", g)
	}
	_, err := GroupServers(nil, 7)
	require.Error(t, err)
}

// BenchmarkPendingGroups: what a takeover adds (ftmctl's Defer), per bank
// size, with six groups in doubt: the same whatever the bank's size.
func BenchmarkPendingGroups(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			bank := pendingBank(b, n)
			b.ResetTimer()
			for b.Loop() {
				if _, err := PendingGroups(context.Background(), bank, pendingGroups); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
