package stm

import (
	"context"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// pair is a primary bank mirrored in-process to a backup bank.
type pair struct {
	b  *Bank
	k  *Backup
	lm *LocalMirror
}

func newPair(t testing.TB, cfg Config, kcfg BackupConfig) *pair {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	b := NewBank(cfg)
	k := NewBackup(kcfg)
	lm := NewLocalMirror(k)
	if err := b.Attach(context.Background(), lm); err != nil {
		t.Fatalf("attach: %v", err)
	}
	return &pair{b: b, k: k, lm: lm}
}

func put(t testing.TB, b *Bank, id ID, val string) {
	t.Helper()
	if err := b.Update(context.Background(), func(tx *Tx) error { return tx.Put(id, []byte(val)) }); err != nil {
		t.Fatalf("put %d=%q: %v", id, val, err)
	}
}

func strMap(m map[ID][]byte) map[ID]string {
	out := make(map[ID]string, len(m))
	for id, v := range m {
		out[id] = string(v)
	}
	return out
}

func nopLogger() *zap.Logger { return zap.NewNop() }
