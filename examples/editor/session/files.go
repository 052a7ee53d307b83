package session

import (
	"context"
	"errors"

	"github.com/ftm-in-go/ftm/devices/files"
	"github.com/ftm-in-go/ftm/examples/editor/emacs"
	"github.com/ftm-in-go/ftm/stm"
)

// Files adapts a file store (devices/files) to the editor.
func Files(ctx context.Context, s *files.Server) emacs.Files { return serverFiles{ctx: ctx, s: s} }

type serverFiles struct {
	ctx context.Context
	s   *files.Server
}

func (f serverFiles) Open(path string) ([]byte, error) { return f.s.Open(f.ctx, path) }

// errUnprotected is what the user reads when a save cannot commit.
var errUnprotected = errors.New("no backup node to protect the save; it works again once the partner is back (ftmctl pair up)")

func (f serverFiles) Save(path string, data []byte) error {
	err := f.s.Save(f.ctx, path, data)
	if errors.Is(err, stm.ErrNoBackup) {
		return errUnprotected
	}
	return err
}
