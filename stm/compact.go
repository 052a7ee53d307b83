package stm

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.uber.org/zap"
)

// maybeCompact rewrites the log as a snapshot of the image when it holds
// more than twice the live data; fm.mu held. Commits wait meanwhile.
func (fm *FileMirror) maybeCompact() {
	live := fm.k.liveBytes()
	if fm.size < 2*live || !fm.k.Ready() {
		return
	}
	if err := fm.compact(); err != nil {
		fm.log.Warn("log compaction failed; keeping the old log", zap.Error(err))
	}
}

// compact writes the snapshot to path.tmp, syncs it, renames it over the
// log and syncs the directory; fm.mu and fm.syncMu held. The snapshot holds
// every message written so far, so all of them are durable once it is in.
func (fm *FileMirror) compact() error {
	tmp := fm.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	old, oldSize := fm.f, fm.size
	fm.f, fm.size = f, 0
	w := bufio.NewWriterSize(f, 256<<10)
	err = fm.writeSnapshot(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = syncData(f)
	}
	if err == nil {
		err = os.Rename(tmp, fm.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(fm.path))
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		fm.f, fm.size = old, oldSize
		return err
	}
	_ = old.Close()
	fm.synced = fm.written
	fm.log.Info("log compacted", zap.Int64("from", oldSize), zap.Int64("to", fm.size))
	return nil
}

// writeSnapshot writes the image as a full copy: first chunk, objects,
// phase 2 transactions, last chunk.
func (fm *FileMirror) writeSnapshot(w io.Writer) error {
	first, objs, prepared := fm.k.snapshot()
	if err := fm.appendRecord(w, message{kind: kindLoad, head: chunkHead(first)}); err != nil {
		return err
	}
	for len(objs) > 0 {
		n := min(len(objs), 1024)
		c := &Chunk{Epoch: first.Epoch, Objects: objs[:n]}
		if err := fm.appendRecord(w, chunkMessage(c)); err != nil {
			return err
		}
		objs = objs[n:]
	}
	for _, p := range prepared {
		if err := fm.appendRecord(w, prepareMessage(p)); err != nil {
			return err
		}
	}
	return fm.appendRecord(w, chunkMessage(&Chunk{Epoch: first.Epoch, Last: true}))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// liveBytes is the size of the committed and phase 2 versions.
func (k *Backup) liveBytes() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	var n int64
	for _, o := range k.objs {
		n += int64(len(o.data)) + entryLen
	}
	for _, p := range k.prepared {
		n += int64(p.bytes())
	}
	return n
}

// snapshot lists the backup's state as a full copy would carry it.
func (k *Backup) snapshot() (*Chunk, []Write, []*Prepare) {
	k.mu.Lock()
	defer k.mu.Unlock()
	first := &Chunk{Epoch: k.epoch, First: true, NextID: k.nextID, Seq: k.seq}
	objs := make([]Write, 0, len(k.objs))
	for id, o := range k.objs {
		objs = append(objs, Write{ID: id, Seq: o.seq, Data: o.data})
	}
	prepared := make([]*Prepare, 0, len(k.prepared))
	for _, p := range k.prepared {
		prepared = append(prepared, p)
	}
	return first, objs, prepared
}
