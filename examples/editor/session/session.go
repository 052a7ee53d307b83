package session

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/devices/screen"
	"github.com/ftm-in-go/ftm/examples/editor/emacs"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// Config is one editing session.
type Config struct {
	File       string         // visited at the first start
	Width      int            // screen size at the first start
	Height     int            //
	Screen     *screen.Server // where the editor draws and reads keys
	Files      emacs.Files
	Memory     int           // arena size (default emacs.DefaultMem)
	RetryEvery time.Duration // retry a refused checkpoint (default 2s)
	Logger     *zap.Logger
	// OnCheckpoint, if set, is told how long each checkpoint (editor
	// segment and screen image) took: for benchmarks.
	OnCheckpoint func(time.Duration)
}

// Run runs the editor until the user quits (C-x C-c) or ctx ends.
func Run(ctx context.Context, t *task.Task, cfg Config) error {
	if cfg.Memory == 0 {
		cfg.Memory = emacs.DefaultMem
	}
	if cfg.RetryEvery == 0 {
		cfg.RetryEvery = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	seg, err := t.Segment(ctx, "editor", cfg.Memory)
	if err != nil {
		return err
	}
	ed, err := emacs.New(seg.Bytes(), cfg.Width, cfg.Height, cfg.Files)
	if err != nil {
		return err
	}
	if !ed.Restored() && cfg.File != "" {
		ed.Visit(cfg.File)
	}
	cfg.Screen.SetApplied(ed.Applied())
	_, _ = cfg.Screen.Write(ed.Redisplay())
	l := &loop{t: t, cfg: cfg, ed: ed}
	if err := l.checkpoint(ctx); err != nil {
		return err
	}
	return l.run(ctx)
}

type loop struct {
	t     *task.Task
	cfg   Config
	ed    *emacs.Editor
	owing bool // a checkpoint is due (the last one was refused)
}

func (l *loop) run(ctx context.Context) error {
	for !l.ed.Quit() {
		in, err := l.read(ctx)
		if err != nil {
			return err
		}
		for _, i := range in {
			l.ed.Input(i.Seq, i.Data)
		}
		if len(in) > 0 {
			_, _ = l.cfg.Screen.Write(l.ed.Redisplay())
		}
		if len(in) > 0 || l.owing {
			if err := l.checkpoint(ctx); err != nil {
				return err
			}
		}
	}
	_, _ = l.cfg.Screen.Write([]byte("\x1b[0m\x1b[H\x1b[2J"))
	return l.checkpoint(ctx)
}

// read waits for input; with a checkpoint owing, only RetryEvery.
func (l *loop) read(ctx context.Context) ([]screen.Input, error) {
	if !l.owing {
		return l.cfg.Screen.ReadInput(ctx)
	}
	rctx, cancel := context.WithTimeout(ctx, l.cfg.RetryEvery)
	defer cancel()
	in, err := l.cfg.Screen.ReadInput(rctx)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, nil
	}
	return in, err
}

// checkpoint saves the editor's segment, then the screen image, then
// acks the input they cover. Without a backup the editor runs on
// unprotected and tries again later.
func (l *loop) checkpoint(ctx context.Context) error {
	start := time.Now()
	err := l.t.Checkpoint(ctx)
	if err == nil {
		err = l.cfg.Screen.Checkpoint(ctx)
	}
	switch {
	case err == nil:
		l.owing = false
		if l.cfg.OnCheckpoint != nil {
			l.cfg.OnCheckpoint(time.Since(start))
		}
		l.cfg.Screen.Ack(l.ed.Applied())
		return nil
	case errors.Is(err, stm.ErrNoBackup), errors.Is(err, task.ErrNoFaultTolerance):
		if !l.owing {
			l.cfg.Logger.Warn("editor checkpoint refused; running unprotected until a backup is attached", zap.Error(err))
		}
		l.owing = !errors.Is(err, task.ErrNoFaultTolerance)
		if !l.owing {
			l.cfg.Screen.Ack(l.ed.Applied()) // nothing to wait for
		}
		return nil
	}
	return err
}
