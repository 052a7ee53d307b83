package stm

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// errLease stands for a lease the group did not grant.
var errLease = errors.New("no lease")

// A bank with no backup commits alone while Config.Alone grants it (the
// paper's primary that proceeds when its backup fails, §3.3.2), and
// refuses as before when it does not.
func TestCommitAloneUnderTheLease(t *testing.T) {
	var lease atomic.Bool
	b := NewBank(Config{Alone: func() error {
		if lease.Load() {
			return nil
		}
		return errLease
	}})
	ctx := context.Background()
	put := func(v string) error {
		tx := b.Begin()
		require.NoError(t, tx.Put(FirstAllocatedID, []byte(v)))
		return tx.Commit(ctx)
	}
	require.ErrorIs(t, put("refused"), ErrNoBackup, "no lease: refused as without Alone")
	lease.Store(true)
	require.NoError(t, put("one"))
	require.Equal(t, []byte("one"), b.Dump()[FirstAllocatedID])
	require.Equal(t, uint64(1), b.Stats().Alone)

	g := GroupID(7)
	tx := b.Begin()
	require.NoError(t, tx.Put(FirstAllocatedID, []byte("two")))
	require.NoError(t, tx.Precommit(ctx, g))
	require.NoError(t, b.Decide(ctx, g, true), "a group decided alone is no ErrBackupLost")
	require.Equal(t, []byte("two"), b.Dump()[FirstAllocatedID])
}

// A lease lost while a commit applied alone is reported: the commit is in
// this bank but a takeover would start from a copy without it.
func TestCommitAloneReportsALeaseLostMeanwhile(t *testing.T) {
	var asked atomic.Int32
	b := NewBank(Config{Alone: func() error {
		if asked.Add(1) == 1 {
			return nil
		}
		return errLease
	}})
	tx := b.Begin()
	require.NoError(t, tx.Put(FirstAllocatedID, []byte("x")))
	err := tx.Commit(context.Background())
	require.ErrorIs(t, err, ErrNoBackup)
	require.ErrorIs(t, err, errLease)
}

// A closed bank never commits alone, lease or not.
func TestClosedBankDoesNotCommitAlone(t *testing.T) {
	b := NewBank(Config{Alone: func() error { return nil }})
	require.NoError(t, b.Close())
	tx := b.Begin()
	_ = tx.Put(FirstAllocatedID, []byte("x"))
	require.Error(t, tx.Commit(context.Background()))
}
