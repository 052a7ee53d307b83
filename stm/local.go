package stm

import (
	"context"
	"fmt"
	"sync"
)

// LocalMirror is the in-process Mirror: it hands messages to a Backup in
// the same process, copying every new version so the two banks share no
// memory (as two machines would not). Cut simulates the link failing.
type LocalMirror struct {
	k *Backup

	mu  sync.Mutex // guards cut
	cut bool
}

var _ Mirror = (*LocalMirror)(nil)

// NewLocalMirror returns a mirror onto k.
func NewLocalMirror(k *Backup) *LocalMirror { return &LocalMirror{k: k} }

// Cut makes every later call fail, as if the link to the backup died.
func (m *LocalMirror) Cut() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cut = true
}

func (m *LocalMirror) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cut {
		return fmt.Errorf("%w: local mirror cut", ErrNoBackup)
	}
	return nil
}

// Prepare copies p's new versions into the backup bank.
func (m *LocalMirror) Prepare(ctx context.Context, p *Prepare) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	q := *p
	q.Writes = copyWrites(p.Writes)
	return m.k.prepare(&q)
}

// Decide forwards a group decision.
func (m *LocalMirror) Decide(ctx context.Context, d *Decision) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	dd := *d
	return m.k.decide(&dd)
}

// Load copies one chunk of a full copy into the backup bank.
func (m *LocalMirror) Load(ctx context.Context, c *Chunk) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	cc := *c
	cc.Objects = copyWrites(c.Objects)
	return m.k.load(&cc)
}

// Close cuts the mirror.
func (m *LocalMirror) Close() error {
	m.Cut()
	return nil
}

// copyWrites copies every version, each in its own allocation, so a
// version the backup keeps never pins the memory of others.
func copyWrites(ws []Write) []Write {
	out := make([]Write, len(ws))
	for i, w := range ws {
		out[i] = w
		if w.Data != nil {
			out[i].Data = append([]byte(nil), w.Data...)
		}
	}
	return out
}
