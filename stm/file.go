package stm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"sync"

	"go.uber.org/zap"
)

// FileConfig configures a FileMirror. The zero value is valid.
type FileConfig struct {
	// Logger receives structured events; nil means zap.NewNop().
	Logger *zap.Logger
	// CompactBytes: the log is rewritten as a snapshot once it exceeds this
	// size and twice the live data (default 64 MiB).
	CompactBytes int64
	// MaxRecord bounds one log record (default 1 MiB): a larger commit is
	// written as several records, streamed, and replayed only if all are
	// there.
	MaxRecord int
	// RepairTornTail lets OpenFile drop an incomplete last record (a write
	// torn by a power cut before its fdatasync, hence never acknowledged)
	// instead of failing with ErrTornTail. A record that is complete but
	// fails its checksum is never repaired.
	RepairTornTail bool
}

// ErrTornTail: the log ends in the middle of a record.
var ErrTornTail = fmt.Errorf("%w: log ends inside a record (torn write)", ErrCorrupt)

// FileMirror is the optional file-backed bank (for power loss, off by
// default): a Mirror that appends every message to a write-ahead log and
// fdatasyncs it before acknowledging, so a commit is on disk when Commit
// returns. Concurrent commits share an fdatasync (group commit): one
// committer syncs for all whose records are written by then. It keeps the log's state in memory (a Backup sharing the
// primary's immutable versions, so no extra copy; only versions lent with
// PutBorrowed are copied) for recovery and compaction. Use it alone, or beside a remote backup with Tee.
//
// Log record: len(4) kind(1) crc32c(4) over those five bytes, then len bytes
// of the mirror wire format (which carries its own CRC-32C). OpenFile
// refuses a log with a bad record (ErrCorrupt) and never loads it silently.
type FileMirror struct {
	cfg  FileConfig
	log  *zap.Logger
	path string

	// syncMu is held by the one committer syncing the log for all those
	// whose records are written (group commit); taken before mu.
	syncMu     sync.Mutex
	beforeSync func() // test hook: runs before each sync, syncMu held

	mu      sync.Mutex // guards every field below; held across a message's write, not its sync
	f       *os.File
	size    int64   // bytes in the log
	written int64   // bytes ever written to the log (counting across compactions)
	synced  int64   // the prefix of written known to be on disk
	syncs   int64   // fdatasyncs of the log (statistics)
	k       *Backup // the state the log describes
	enc     encoder
	broken  error // set when a write or sync failed: the log may lack a record
}

var _ Mirror = (*FileMirror)(nil)

const recHeadLen = 4 + 1 + 4

// OpenFile opens (or creates) the log at path and replays it. A log that
// ends in a complete copy yields a Backup ready to take over (Recovered).
func OpenFile(path string, cfg FileConfig) (*FileMirror, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.CompactBytes == 0 {
		cfg.CompactBytes = 64 << 20
	}
	if cfg.MaxRecord == 0 {
		cfg.MaxRecord = 1 << 20
	}
	cfg.MaxRecord = max(cfg.MaxRecord, 4096)
	fm := &FileMirror{cfg: cfg, log: cfg.Logger, path: path, k: NewBackup(BackupConfig{Logger: cfg.Logger})}
	fm.enc.max, fm.enc.prefix = cfg.MaxRecord, recHeadLen
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("stm: open log: %w", err)
	}
	good, err := fm.replay(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("stm: log %s: %w", path, err)
	}
	if err := fm.openAppend(f, good); err != nil {
		_ = f.Close()
		return nil, err
	}
	return fm, nil
}

// openAppend truncates a repaired torn tail and positions for appending.
func (fm *FileMirror) openAppend(f *os.File, good int64) error {
	if st, err := f.Stat(); err == nil && st.Size() != good {
		if err := f.Truncate(good); err != nil {
			return fmt.Errorf("stm: truncate torn log tail: %w", err)
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		return fmt.Errorf("stm: seek log: %w", err)
	}
	fm.f, fm.size = f, good
	return nil
}

// replay applies every message of the log to fm.k and returns the length
// of the good prefix. A message larger than a record spans several records
// (flagMore); a log ending inside one is a torn tail too.
func (fm *FileMirror) replay(f *os.File) (int64, error) {
	r := bufio.NewReaderSize(f, 256<<10)
	var a assembler
	var off, msgStart int64
	for {
		if a.msg == nil {
			msgStart = off
		}
		kind, body, err := readRecord(r)
		if errors.Is(err, io.EOF) {
			if a.msg == nil {
				return off, nil
			}
			err = fmt.Errorf("%w: the last message is incomplete", ErrTornTail)
		}
		if errors.Is(err, ErrTornTail) && fm.cfg.RepairTornTail {
			fm.log.Warn("dropping torn last log message", zap.Int64("offset", msgStart))
			return msgStart, nil
		}
		if err == nil {
			err = fm.replayOne(&a, kind, body)
		}
		if err != nil {
			return 0, fmt.Errorf("record at offset %d: %w", off, err)
		}
		off += int64(recHeadLen + len(body))
	}
}

func (fm *FileMirror) replayOne(a *assembler, kind uint8, body []byte) error {
	msg, err := a.add(0, kind, body)
	if err != nil || msg == nil {
		return err
	}
	if err := fm.k.apply(msg); err != nil {
		return fmt.Errorf("%w: record refused on replay: %w", ErrCorrupt, err)
	}
	return nil
}

// readRecord reads one record; io.EOF at a clean end, ErrTornTail when the
// log stops inside a record, ErrCorrupt when a checksum fails.
func readRecord(r *bufio.Reader) (uint8, []byte, error) {
	var h [recHeadLen]byte
	n, err := io.ReadFull(r, h[:])
	if err == io.EOF {
		return 0, nil, io.EOF
	}
	if err != nil {
		return 0, nil, fmt.Errorf("%w (%d header bytes)", ErrTornTail, n)
	}
	if crc32.Checksum(h[:5], castagnoli) != binary.LittleEndian.Uint32(h[5:]) {
		return 0, nil, fmt.Errorf("record header checksum: %w", ErrCorrupt)
	}
	body := make([]byte, binary.LittleEndian.Uint32(h[:4]))
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, fmt.Errorf("%w (body of %d bytes)", ErrTornTail, len(body))
	}
	return h[4], body, nil
}

// Recovered returns the backup bank the log describes; after a restart,
// Takeover on it yields the primary bank (then Attach this FileMirror again).
func (fm *FileMirror) Recovered() *Backup { return fm.k }

// Prepare applies phase 1 to the in-memory image, then logs it and syncs.
// The image keeps its own copy of the versions the writer only lent
// (PutBorrowed), which it may change once its commit returned.
func (fm *FileMirror) Prepare(ctx context.Context, p *Prepare) error {
	kept := ownLent(p)
	return fm.do(ctx, prepareMessage(p), func() error { return fm.k.prepare(kept) })
}

// ownLent returns p when none of its versions is lent, else a copy of p
// whose lent versions are copied (p is left as it is: a Tee shares it).
func ownLent(p *Prepare) *Prepare {
	first := slices.IndexFunc(p.Writes, func(w Write) bool { return w.lent })
	if first < 0 {
		return p
	}
	q := *p
	q.Writes = slices.Clone(p.Writes)
	for i := first; i < len(q.Writes); i++ {
		if w := &q.Writes[i]; w.lent {
			w.Data, w.lent = bytes.Clone(w.Data), false
		}
	}
	return &q
}

// Decide logs a group decision.
func (fm *FileMirror) Decide(ctx context.Context, d *Decision) error {
	return fm.do(ctx, decisionMessage(d), func() error { return fm.k.decide(d) })
}

// Load logs one chunk of a full copy (a re-attach after a restart, say).
func (fm *FileMirror) Load(ctx context.Context, c *Chunk) error {
	return fm.do(ctx, chunkMessage(c), func() error { return fm.k.load(c) })
}

// Close flushes and closes the log (after a sync in progress).
func (fm *FileMirror) Close() error {
	fm.syncMu.Lock()
	defer fm.syncMu.Unlock()
	fm.mu.Lock()
	defer fm.mu.Unlock()
	if fm.f == nil {
		return nil
	}
	err := fm.f.Close()
	fm.f = nil
	if fm.broken == nil {
		fm.broken = fmt.Errorf("%w: log closed", ErrNoBackup)
	}
	return err
}

// do checks the message against the in-memory image (epoch, state),
// appends it, and returns once a sync covers it. Committers whose records
// are written while a sync runs share the next one (group commit). A failed
// write or sync breaks the mirror: the primary must attach a new one (the
// image may now be ahead of the disk).
func (fm *FileMirror) do(ctx context.Context, msg message, apply func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	end, err := fm.write(msg, apply)
	if err != nil {
		return err
	}
	return fm.syncTo(end)
}

// write applies msg to the image and appends its records; it returns the
// log position a sync must reach for msg to be durable.
func (fm *FileMirror) write(msg message, apply func() error) (int64, error) {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	if fm.broken != nil {
		return 0, fm.broken
	}
	if err := apply(); err != nil {
		return 0, err
	}
	if err := fm.appendRecord(fm.f, msg); err != nil {
		return 0, fm.breakWith("log write", err)
	}
	return fm.written, nil
}

// breakWith marks the mirror broken by err; fm.mu held.
func (fm *FileMirror) breakWith(what string, err error) error {
	if fm.broken == nil {
		fm.broken = fmt.Errorf("%w: %s: %w", ErrNoBackup, what, err)
	}
	return fm.broken
}

// syncTo returns once the log is on disk up to end: a committer that finds
// a sync in progress waits for it, and syncs itself (for everyone written
// by then) only if that one did not cover it.
func (fm *FileMirror) syncTo(end int64) error {
	fm.syncMu.Lock()
	defer fm.syncMu.Unlock()
	if fm.beforeSync != nil {
		fm.beforeSync()
	}
	fm.mu.Lock()
	f, target, synced, broken := fm.f, fm.written, fm.synced, fm.broken
	fm.mu.Unlock()
	if synced >= end {
		return nil
	}
	if broken != nil {
		return broken
	}
	err := syncData(f)
	fm.mu.Lock()
	defer fm.mu.Unlock()
	fm.syncs++
	if err != nil {
		return fm.breakWith("log sync", err)
	}
	fm.synced = target
	if fm.size > fm.cfg.CompactBytes {
		fm.maybeCompact()
	}
	return nil
}

// appendRecord encodes one record (header in the encoder's prefix) and
// writes it to w.
func (fm *FileMirror) appendRecord(w io.Writer, msg message) error {
	fm.enc.emit = func(rec []byte) error {
		rh := rec[:recHeadLen]
		binary.LittleEndian.PutUint32(rh[:4], uint32(len(rec)-recHeadLen))
		rh[4] = msg.kind
		binary.LittleEndian.PutUint32(rh[5:], crc32.Checksum(rh[:5], castagnoli))
		_, err := w.Write(rec)
		fm.size += int64(len(rec))
		fm.written += int64(len(rec))
		return err
	}
	return fm.enc.encode(msg.head, msg.writes)
}
