package servers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/stretchr/testify/require"
)

// pendingBank fills a bank with n opaque objects in the caller's id range
// and the records of units: a precommitted server (group 7), a server that
// saved the decision without applying it (group 8), one with no group, a
// record stored under another unit's id (ignored) and one past
// FirstAllocatedID (ignored).
func pendingBank(tb testing.TB, n int) *stm.Bank {
	ctx := context.Background()
	b := stm.NewBank(stm.Config{})
	require.NoError(tb, b.Attach(ctx, stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{}))))
	rng := rand.New(rand.NewPCG(1, 2))
	put := func(id stm.ID, v []byte) {
		require.NoError(tb, b.Update(ctx, func(tx *stm.Tx) error { return tx.Put(id, v) }))
	}
	for i := range n {
		v := make([]byte, 64+rng.IntN(1024))
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		put(stm.ID(1_000_000+i), v)
	}
	rec := func(st ru.State, group, gInc uint64) []byte {
		v, err := stm.Encode(&unitRecord{State: &st, Group: group, GroupInc: gInc})
		require.NoError(tb, err)
		return v
	}
	put(recordID("kv"), rec(ru.State{Name: "kv", Phase: ru.Precommitted, Inc: 3}, 7, 3))
	put(recordID("kv2"), rec(ru.State{Name: "kv2", Phase: ru.Running, Inc: 4}, 8, 3))
	put(recordID("app"), rec(ru.State{Name: "app", Phase: ru.Precommitted, Inc: 2}, 0, 0))
	put(recordID("other"), rec(ru.State{Name: "kv3", Phase: ru.Precommitted, Inc: 2}, 9, 2))
	require.NoError(tb, b.Update(ctx, func(tx *stm.Tx) error {
		id, err := tx.Create(rec(ru.State{Name: "kv4", Phase: ru.Precommitted, Inc: 2}, 10, 2))
		_ = id
		return err
	}))
	return b
}

func TestPendingGroupsReadsUnitRecordsOnly(t *testing.T) {
	b := pendingBank(t, 50)
	got, err := PendingGroups(context.Background(), b)
	require.NoError(t, err)
	require.Equal(t, map[stm.GroupID]bool{7: true, 8: true}, got)
	_, err = PendingGroups(context.Background(), nil)
	require.Error(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = PendingGroups(ctx, b)
	require.ErrorIs(t, err, context.Canceled)
}

// BenchmarkPendingGroups: the scan a takeover adds (ftmctl's Defer), per
// bank size.
func BenchmarkPendingGroups(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			bank := pendingBank(b, n)
			b.ResetTimer()
			for b.Loop() {
				if _, err := PendingGroups(context.Background(), bank); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
