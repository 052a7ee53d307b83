package stm

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// chunkBytes bounds one chunk of a full copy.
const chunkBytes = 1 << 20

// Attach makes m the bank's backup and streams it a full copy while commits
// go on (paper §2.2: a new backup joins a running primary). From the moment
// the first chunk is acknowledged, every commit is also shipped to m; the
// copy itself is taken from immutable committed versions, so it costs no
// object copies on the primary and holds the bank lock only to list them.
// Transactions waiting in phase 2 are shipped too. Attach closes the
// previous mirror, if any. If it fails, commits stay refused until the next
// successful Attach.
func (b *Bank) Attach(ctx context.Context, m Mirror) error {
	f := b.cfg.OnAttach
	if f == nil {
		return b.attach(ctx, m)
	}
	start := time.Now()
	err := b.attach(ctx, m)
	f(b, time.Since(start), err)
	return err
}

func (b *Bank) attach(ctx context.Context, m Mirror) error {
	snap, err := b.swapMirror(ctx, m)
	if err != nil {
		return err
	}
	if err := b.streamCopy(ctx, m, snap); err != nil {
		b.mu.Lock()
		b.mirrorBroken = b.mirror == m
		b.mu.Unlock()
		return fmt.Errorf("attach backup: %w: %w", ErrNoBackup, err)
	}
	b.mu.Lock()
	if b.mirror == m {
		b.joining = false
	}
	b.mu.Unlock()
	b.log.Info("backup attached", zap.Int("objects", len(snap)))
	return nil
}

// swapMirror installs m under the exclusive mirror lock: no transaction is
// between phase 1 and its local apply, so the snapshot, the phase 2 list
// and the first chunk define exactly what m will have been told.
func (b *Bank) swapMirror(ctx context.Context, m Mirror) ([]Write, error) {
	b.mirrorMu.Lock()
	defer b.mirrorMu.Unlock()
	b.mu.Lock()
	if err := b.liveErr(); err != nil {
		b.mu.Unlock()
		return nil, err
	}
	old := b.mirror
	b.mirror, b.mirrorBroken, b.joining = m, false, true
	snap, prepared := b.snapshotLocked()
	first := &Chunk{Epoch: b.epoch, First: true, NextID: b.nextID, Seq: b.seq}
	b.mu.Unlock()
	if old != nil && old != m {
		_ = old.Close()
	}
	if err := sendFirst(ctx, m, first, prepared); err != nil {
		b.mu.Lock()
		b.mirrorBroken = true
		b.mu.Unlock()
		return nil, fmt.Errorf("attach backup: %w: %w", ErrNoBackup, err)
	}
	return snap, nil
}

// sendFirst opens the copy and ships the phase 2 transactions, still under
// the exclusive mirror lock so no decision can overtake them.
func sendFirst(ctx context.Context, m Mirror, first *Chunk, prepared []*Prepare) error {
	if err := m.Load(ctx, first); err != nil {
		return err
	}
	for _, p := range prepared {
		if err := m.Prepare(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// snapshotLocked lists the committed versions (shared, immutable) and the
// phase 2 transactions; b.mu held.
func (b *Bank) snapshotLocked() ([]Write, []*Prepare) {
	snap := make([]Write, 0, len(b.objs))
	for id, o := range b.objs {
		snap = append(snap, Write{ID: id, Seq: o.seq, Data: o.data})
		o.lent = false // streamed to the joining backup: never recycled
	}
	var prepared []*Prepare
	for _, tx := range b.running {
		if tx.phase == Phase2 && len(tx.order) > 0 {
			for _, v := range tx.writes {
				v.lent = false
			}
			prepared = append(prepared, b.prepareLocked(tx, false))
		}
	}
	return snap, prepared
}

// streamCopy sends the snapshot in bounded chunks, then the last chunk.
func (b *Bank) streamCopy(ctx context.Context, m Mirror, snap []Write) error {
	epoch := b.Epoch()
	for len(snap) > 0 {
		n, size := 0, 0
		for n < len(snap) && (n == 0 || size+len(snap[n].Data) <= chunkBytes) {
			size += len(snap[n].Data)
			n++
		}
		if err := m.Load(ctx, &Chunk{Epoch: epoch, Objects: snap[:n]}); err != nil {
			return err
		}
		snap = snap[n:]
	}
	return m.Load(ctx, &Chunk{Epoch: epoch, Last: true})
}
