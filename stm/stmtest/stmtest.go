package stmtest

import (
	"context"
	"testing"

	"github.com/ftm-in-go/ftm/stm"
)

// Mirrored is a primary bank with an in-process backup bank attached.
func Mirrored(t testing.TB) (*stm.Bank, *stm.Backup) {
	t.Helper()
	bank := stm.NewBank(stm.Config{})
	return bank, Protect(t, bank)
}

// Protect attaches a fresh in-process backup bank to bank and returns it,
// as a node's partner coming back does.
func Protect(t testing.TB, bank *stm.Bank) *stm.Backup {
	t.Helper()
	backup := stm.NewBackup(stm.BackupConfig{})
	if err := bank.Attach(context.Background(), stm.NewLocalMirror(backup)); err != nil {
		t.Fatalf("stmtest: attach a backup: %v", err)
	}
	return backup
}

// Takeover promotes backup to primary, as when its primary died, and
// returns the survivor with no backup of its own.
func Takeover(t testing.TB, backup *stm.Backup) *stm.Bank {
	t.Helper()
	bank, _, err := backup.Takeover(context.Background(), stm.Config{})
	if err != nil {
		t.Fatalf("stmtest: takeover: %v", err)
	}
	return bank
}

// Survivor promotes backup to primary and protects it with a fresh
// in-process backup, so it can commit.
func Survivor(t testing.TB, backup *stm.Backup) *stm.Bank {
	t.Helper()
	bank := Takeover(t, backup)
	Protect(t, bank)
	return bank
}
