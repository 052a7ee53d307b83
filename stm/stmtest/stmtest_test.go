package stmtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

func put(t *testing.T, b *stm.Bank, v string) {
	t.Helper()
	require.NoError(t, b.Update(context.Background(), func(tx *stm.Tx) error { return tx.Put(1, []byte(v)) }))
}

func TestSurvivorHoldsWhatTheMirroredBankCommittedAndCommitsOn(t *testing.T) {
	bank, backup := stmtest.Mirrored(t)
	put(t, bank, "before the crash")
	survivor := stmtest.Survivor(t, backup)
	require.Equal(t, map[stm.ID][]byte{1: []byte("before the crash")}, survivor.Dump())
	put(t, survivor, "after the takeover")
}

func TestTakeoverLeavesTheSurvivorUnprotected(t *testing.T) {
	bank, backup := stmtest.Mirrored(t)
	put(t, bank, "x")
	survivor := stmtest.Takeover(t, backup)
	err := survivor.Update(context.Background(), func(tx *stm.Tx) error { return tx.Put(1, []byte("y")) })
	require.ErrorIs(t, err, stm.ErrNoBackup)
}

func TestDialBankMirrorsToTheBackupServedAcrossALink(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	secret := []byte("stmtest-remote-test-shared-secret")
	ln, err := link.Listen("127.0.0.1:0", link.Config{Name: "backup", Secret: secret})
	require.NoError(t, err)
	defer ln.Close()
	k := stm.NewBackup(stm.BackupConfig{})
	serveCtx, stopServing := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- stmtest.ServeOne(serveCtx, ln, k) }()
	bank, err := stmtest.DialBank(ctx, ln.Addr(), link.Config{Name: "primary", Secret: secret})
	require.NoError(t, err)
	put(t, bank, "across the link")
	stopServing() // the primary is gone
	<-served
	survivor := stmtest.Takeover(t, k)
	require.Equal(t, map[stm.ID][]byte{1: []byte("across the link")}, survivor.Dump())
}
