package session

import (
	"context"

	"github.com/ftm-in-go/ftm/examples/editor/emacs"
	"github.com/ftm-in-go/ftm/servers/files"
)

// Files adapts a reliable file server to the editor.
func Files(ctx context.Context, s *files.Server) emacs.Files { return serverFiles{ctx: ctx, s: s} }

type serverFiles struct {
	ctx context.Context
	s   *files.Server
}

func (f serverFiles) Open(path string) ([]byte, error) { return f.s.Open(f.ctx, path) }

func (f serverFiles) Save(path string, data []byte) error { return f.s.Save(f.ctx, path, data) }
