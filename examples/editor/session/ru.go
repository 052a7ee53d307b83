package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/devices/files"
	"github.com/ftm-in-go/ftm/devices/screen"
	"github.com/ftm-in-go/ftm/examples/editor/emacs"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/stm"
)

// The editor's segments as a recovery unit: the emacs arena (its data),
// its progress (checkpoints taken, last input acknowledged) and a journal
// of the input it applied (a ring, for inspection after a crash).
const (
	SegText     = "text"
	SegProgress = "progress"
	SegJournal  = "journal"
	journalSize = 64 << 10
	progressLen = 8 << 10
)

// Segments declares the editor's segments for RunUnit (memory: the arena's
// size, emacs.DefaultMem if 0).
func Segments(memory int) []SegmentSpec {
	if memory == 0 {
		memory = emacs.DefaultMem
	}
	return []SegmentSpec{{Name: SegText, Size: memory}, {Name: SegProgress, Size: progressLen}, {Name: SegJournal, Size: journalSize}}
}

// RUConfig is one editing session run as a recovery unit.
type RUConfig struct {
	Config
	ScreenServer string // the reliable screen's name (screen.NewReliable) drawing on Config.Screen
	FileServer   string // the reliable file server's name (files.NewReliable)
}

// RunRU runs the editor inside u, a recovery unit made by RunUnit with
// Segments: it draws through the reliable screen server and opens and
// saves through the reliable file server, both called by its RU, and each
// checkpoint commits its RU, its three segments and the screen (and the
// file server when it was called) as one atomic action. It returns an
// error wrapping servers.ErrAborted when its RU aborted (the system rolls
// it back and enters it again), nil when the user quit.
func RunRU(ctx context.Context, u *Unit, cfg RUConfig) error {
	cfg.Config = defaults(cfg.Config)
	fs := &ruFiles{ctx: ctx, c: u.Client(), open: files.OpenFile.At(cfg.FileServer), save: files.SaveFile.At(cfg.FileServer)}
	ed, err := emacs.New(u.Segment(SegText).Bytes(), cfg.Width, cfg.Height, fs)
	if err != nil {
		return err
	}
	if !ed.Restored() && cfg.File != "" {
		ed.Visit(cfg.File)
		if err := fs.failed(); err != nil {
			return err
		}
	}
	p := progress(u.Segment(SegProgress).Bytes())
	write := screen.Write.At(cfg.ScreenServer)
	l := &loop{cfg: cfg.Config, ed: ed, failed: fs.failed,
		draw: func(ctx context.Context, b []byte) error {
			_, err := write.Call(ctx, u.Client(), b)
			return err
		},
		save: func(ctx context.Context) error {
			p.add(checkpointsAt, 1)
			p.set(ackedAt, ed.Applied())
			return u.Checkpoint(ctx)
		},
		applied: func(in []screen.Input) { journal(u.Segment(SegJournal).Bytes()).append(in) },
	}
	return l.start(ctx)
}

func defaults(cfg Config) Config {
	if cfg.Memory == 0 {
		cfg.Memory = emacs.DefaultMem
	}
	if cfg.RetryEvery == 0 {
		cfg.RetryEvery = defaultRetry
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return cfg
}

// progress is the progress segment: little-endian counters.
type progress []byte

const (
	checkpointsAt = 0 // checkpoints taken
	ackedAt       = 8 // last input number a checkpoint covered
)

func (p progress) get(at int) uint64     { return binary.LittleEndian.Uint64(p[at:]) }
func (p progress) set(at int, v uint64)  { binary.LittleEndian.PutUint64(p[at:], v) }
func (p progress) add(at int, by uint64) { p.set(at, p.get(at)+by) }

// journal is the journal segment: the total bytes appended, then a ring
// of the input applied.
type journal []byte

func (j journal) append(in []screen.Input) {
	ring := j[8:]
	n := binary.LittleEndian.Uint64(j)
	for _, i := range in {
		for _, b := range i.Data {
			ring[n%uint64(len(ring))] = b
			n++
		}
	}
	binary.LittleEndian.PutUint64(j, n)
}

// Journal returns the last input the editor applied, up to the ring's
// size, from a journal segment's bytes.
func Journal(seg []byte) []byte {
	j := journal(seg)
	ring := j[8:]
	n := binary.LittleEndian.Uint64(j)
	if n <= uint64(len(ring)) {
		return append([]byte(nil), ring[:n]...)
	}
	at := n % uint64(len(ring))
	return append(append([]byte(nil), ring[at:]...), ring[:at]...)
}

// ruFiles is the editor's file access through the reliable file server,
// by its RU. A call that found the RU aborted is kept: the editor cannot
// see it (a save shows only a message), the loop stops on it.
type ruFiles struct {
	ctx  context.Context
	c    *servers.Client
	open servers.Method[string, []byte]
	save servers.Method[files.SaveReq, uint64]

	mu      sync.Mutex
	aborted error
}

func (f *ruFiles) Open(path string) ([]byte, error) {
	data, err := f.open.Call(f.ctx, f.c, path)
	return data, f.note(err)
}

func (f *ruFiles) Save(path string, data []byte) error {
	_, err := f.save.Call(f.ctx, f.c, files.SaveReq{Path: path, Data: data})
	if errors.Is(err, stm.ErrNoBackup) {
		return errUnprotected
	}
	return f.note(err)
}

func (f *ruFiles) note(err error) error {
	if errors.Is(err, servers.ErrAborted) {
		f.mu.Lock()
		f.aborted = fmt.Errorf("session: a file call: %w", err)
		f.mu.Unlock()
	}
	return err
}

func (f *ruFiles) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.aborted
}
