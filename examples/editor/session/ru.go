package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/devices/files"
	"github.com/ftm-in-go/ftm/devices/screen"
	"github.com/ftm-in-go/ftm/examples/editor/emacs"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// The editor's segments as a recovery unit: the emacs arena (its data),
// the task's heap (task.Object: the session's progress) and a journal of
// the input it applied (a ring, for inspection after a crash). With the
// editor's own RU and the screen's, five recovery units (§6.1).
const (
	SegText     = "text"
	SegJournal  = "journal"
	journalSize = 64 << 10
	progressObj = "editor.progress"
)

// RUConfig is one editing session run as a recovery unit.
type RUConfig struct {
	Config
	ScreenServer string // the reliable screen server's name (screen.NewReliable)
	ScreenName   string // the name of Config.Screen on that server
	FileServer   string // the reliable file server's name (files.NewReliable)
	// Direct is the file access used while the task has no RU client
	// (its bank runs no units: no backup, or the node runs its tasks
	// outside the servers); nil: files are read from the host's disk and
	// saves are refused.
	Direct emacs.Files
}

// Progress is the session's own record, a stable object of the task.
type Progress struct {
	Checkpoints uint64 // checkpoints taken
	Acked       uint64 // last input number a checkpoint covered
}

// RunRU runs the editor in t, a stable task that is a recovery unit
// (task.Config.Unit): it draws through the reliable screen server and
// opens and saves through the reliable file server, both called by the
// task's RU (t.Client), and each checkpoint commits the task's RU, its
// three segments (text, journal, the heap) and the screen (and the file
// server when it was called) as one atomic action. When the RU aborts,
// RunRU returns the error (wrapping servers.ErrAborted) and the task
// runtime rolls the editor back and enters it again; nil when the user
// quit.
func RunRU(ctx context.Context, t *task.Task, cfg RUConfig) error {
	cfg.Config = defaults(cfg.Config)
	text, err := t.Segment(ctx, SegText, cfg.Memory)
	if err != nil {
		return err
	}
	jseg, err := t.Segment(ctx, SegJournal, journalSize)
	if err != nil {
		return err
	}
	prog, err := task.Object[Progress](ctx, t, progressObj)
	if err != nil {
		return err
	}
	fs := &ruFiles{ctx: ctx, t: t, direct: cfg.Direct, open: files.OpenFile.At(cfg.FileServer), save: files.SaveFile.At(cfg.FileServer)}
	ed, err := emacs.New(text.Bytes(), cfg.Width, cfg.Height, fs)
	if err != nil {
		return err
	}
	if !ed.Restored() && cfg.File != "" {
		ed.Visit(cfg.File)
		if err := fs.failed(); err != nil {
			return err
		}
	}
	parts := ruParts{t: t, cfg: cfg, ed: ed, fs: fs, prog: prog, journal: journal(jseg.Bytes())}
	return parts.loop().start(ctx)
}

// ruParts are what the editor's loop runs over as a recovery unit.
type ruParts struct {
	t       *task.Task
	cfg     RUConfig
	ed      *emacs.Editor
	fs      *ruFiles
	prog    *Progress
	journal journal
}

// loop is the editor's loop over the task's RU.
func (p ruParts) loop() *loop {
	d := &ruDrawer{p: p, write: screen.Write.At(p.cfg.ScreenServer)}
	return &loop{cfg: p.cfg.Config, ed: p.ed, failed: p.fs.failed, draw: d.draw,
		save: func(ctx context.Context) error {
			p.prog.Checkpoints++
			p.prog.Acked = p.ed.Applied()
			return p.t.Checkpoint(ctx)
		},
		applied: p.journal.append,
	}
}

// ruDrawer draws through the reliable screen server, by the task's RU.
// While the server cannot be called (the bank runs no units: no backup;
// or a call failed otherwise than by an abort) it draws on the local
// device, unprotected, and the first call after that redraws the whole
// screen, so the server's image is the editor's again.
type ruDrawer struct {
	p     ruParts
	write servers.Method[screen.Output, int]
	local bool // the last output went to the local device only
}

func (d *ruDrawer) draw(ctx context.Context, b []byte) error {
	c := d.p.t.Client()
	if c != nil && d.local {
		d.p.ed.Redraw()
		b = d.p.ed.Redisplay()
	}
	if c != nil {
		_, err := d.write.Call(ctx, c, screen.Output{Screen: d.p.cfg.ScreenName, Data: b})
		if err == nil || errors.Is(err, servers.ErrAborted) || ctx.Err() != nil {
			d.local = false
			return err
		}
		d.p.cfg.Logger.Warn("screen server unreachable: drawing unprotected", zap.String("server", d.p.cfg.ScreenServer), zap.Error(err))
	}
	d.local = true
	_, _ = d.p.cfg.Screen.Write(b)
	return nil
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
	ctx    context.Context
	t      *task.Task
	direct emacs.Files // while there is no client (RUConfig.Direct)
	open   servers.Method[string, []byte]
	save   servers.Method[files.SaveReq, uint64]

	mu      sync.Mutex
	aborted error
}

func (f *ruFiles) Open(path string) ([]byte, error) {
	c := f.t.Client()
	if c == nil && f.direct != nil {
		return f.direct.Open(path)
	}
	if c == nil { // no file server now: read the host's file, unprotected
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return data, err
	}
	data, err := f.open.Call(f.ctx, c, path)
	return data, f.note(err)
}

func (f *ruFiles) Save(path string, data []byte) error {
	c := f.t.Client()
	if c == nil && f.direct != nil {
		return f.direct.Save(path, data)
	}
	if c == nil {
		return errUnprotected
	}
	_, err := f.save.Call(f.ctx, c, files.SaveReq{Path: path, Data: data})
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
