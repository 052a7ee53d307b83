package files

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/stm"
)

// openFiles is the STM namespace naming a bank's open files: path → the
// file's object.
const openFiles = stm.Namespace("files")

// File is an open file as the server keeps it in STM.
type File struct {
	Path string `codec:"p"`
	Data []byte `codec:"d"`
	// Gen counts the saves committed; OnDisk is the last one written to
	// the host file system. Gen > OnDisk: a save is still to be written.
	Gen    uint64 `codec:"g"`
	OnDisk uint64 `codec:"o"`
}

// Service is what a program asks of a file server. It is small so the
// server can move onto the reliable-server framework unchanged for callers.
type Service interface {
	Open(ctx context.Context, path string) ([]byte, error)
	Save(ctx context.Context, path string, data []byte) error
}

var _ Service = (*Server)(nil)

// Config configures a file server.
type Config struct {
	Bank      *stm.Bank
	Failpoint failpoint.Hook // at each step of a save (Failpoints); nil in production
	Logger    *zap.Logger
}

// Server is the file store over one STM bank.
type Server struct {
	bank *stm.Bank
	hook failpoint.Hook
	log  *zap.Logger
}

// ErrNotOpen is returned for a file that was never opened in this bank.
var ErrNotOpen = errors.New("files: file is not open")

// New returns a file server keeping its open files in cfg.Bank.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Server{bank: cfg.Bank, hook: cfg.Failpoint, log: cfg.Logger}
}

// Open returns the file's content: the one kept in STM if the file is
// open, else the host file's (empty when it does not exist yet), which is
// then recorded in STM.
func (s *Server) Open(ctx context.Context, path string) ([]byte, error) {
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	var data []byte
	err = s.bank.Update(ctx, func(tx *stm.Tx) error {
		f, _, err := lookup(tx, path)
		if err == nil {
			data = f.Data
			return nil
		}
		if !errors.Is(err, ErrNotOpen) {
			return err
		}
		data, err = os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("files: open %s: %w", path, err)
		}
		return record(tx, File{Path: path, Data: data})
	})
	return data, err
}

// Save commits data as path's new content and writes it to the host file
// system atomically. When Save returns nil the file on disk has the new
// content; when it fails after the commit, the save is still done by the
// next Flush or Recover.
func (s *Server) Save(ctx context.Context, path string, data []byte) error {
	err := s.bank.Update(ctx, func(tx *stm.Tx) error { return s.SaveTx(tx, path, data) })
	if err != nil {
		return err
	}
	return s.Flush(ctx)
}

// SaveTx records a save of path in tx, the caller's checkpoint
// transaction: the save happens if and only if tx commits. Call Flush
// after the commit.
func (s *Server) SaveTx(tx *stm.Tx, path string, data []byte) error {
	path, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	f, id, err := lookup(tx, path)
	switch {
	case errors.Is(err, ErrNotOpen):
		return record(tx, File{Path: path, Data: data, Gen: 1})
	case err != nil:
		return err
	}
	f.Data, f.Gen = data, f.Gen+1
	return stm.Set(tx, id, f)
}

// Flush writes every committed save not yet on disk.
func (s *Server) Flush(ctx context.Context) error {
	pending, err := s.pending(ctx)
	if err != nil {
		return err
	}
	for _, f := range pending {
		if err := s.write(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// Recover redoes the saves the bank's previous holder committed but may
// not have written, and removes the temporary files its crash left: run
// it after a takeover.
func (s *Server) Recover(ctx context.Context) error {
	var paths []string
	err := s.bank.View(ctx, func(tx *stm.Tx) error {
		d, err := openFiles.Names(tx)
		for p := range d {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := RemoveTemps(p); err != nil {
			s.log.Warn("cannot remove a cut-short save", zap.String("path", p), zap.Error(err))
		}
	}
	return s.Flush(ctx)
}

// Files lists the open files (content and generations).
func (s *Server) Files(ctx context.Context) ([]File, error) {
	var out []File
	err := s.bank.View(ctx, func(tx *stm.Tx) error {
		d, err := openFiles.Names(tx)
		if err != nil {
			return err
		}
		for _, id := range d {
			f, err := stm.Get[File](tx, id)
			if err != nil {
				return err
			}
			out = append(out, f)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, err
}

func (s *Server) pending(ctx context.Context) ([]File, error) {
	all, err := s.Files(ctx)
	var out []File
	for _, f := range all {
		if f.Gen > f.OnDisk {
			out = append(out, f)
		}
	}
	return out, err
}

// write writes f's content and commits its generation as on disk (unless
// a later save came in meanwhile: that one is written by its own Flush).
func (s *Server) write(ctx context.Context, f File) error {
	if err := WriteAtomic(f.Path, f.Data, s.hook); err != nil {
		return err
	}
	s.log.Debug("file saved", zap.String("path", f.Path), zap.Uint64("gen", f.Gen), zap.Int("bytes", len(f.Data)))
	return s.bank.Update(ctx, func(tx *stm.Tx) error {
		cur, id, err := lookup(tx, f.Path)
		if err != nil {
			return err
		}
		if f.Gen > cur.OnDisk {
			cur.OnDisk = f.Gen
		}
		return stm.Set(tx, id, cur)
	})
}

func lookup(tx *stm.Tx, path string) (File, stm.ID, error) {
	id, ok, err := openFiles.Lookup(tx, path)
	if err != nil {
		return File{}, 0, err
	}
	if !ok {
		return File{}, 0, fmt.Errorf("%w: %s", ErrNotOpen, path)
	}
	f, err := stm.Get[File](tx, id)
	return f, id, err
}

func record(tx *stm.Tx, f File) error {
	id, err := openFiles.Bind(tx, f.Path)
	if err != nil {
		return err
	}
	return stm.Set(tx, id, f)
}
