package stm

import (
	"context"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// pair is a primary bank mirrored to a backup bank, in-process (lm) or
// over loopback TCP (served is closed once ServeBackup returned).
type pair struct {
	b      *Bank
	k      *Backup
	lm     *LocalMirror
	served chan struct{}
}

// newPairOver builds a pair whose mirror is in-process or remote.
func newPairOver(t testing.TB, remote bool, cfg Config, kcfg BackupConfig) *pair {
	t.Helper()
	if !remote {
		return newPair(t, cfg, kcfg)
	}
	b := NewBank(cfg)
	k := NewBackup(kcfg)
	m, served := serveRemote(t, k, RemoteConfig{})
	if err := b.Attach(context.Background(), m); err != nil {
		t.Fatalf("attach: %v", err)
	}
	return &pair{b: b, k: k, served: served}
}

// waitBackupAlone waits, for a remote pair, until the backup has seen the
// link die (as its failure detector would) before it takes over.
func (p *pair) waitBackupAlone() {
	if p.served != nil {
		<-p.served
	}
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
