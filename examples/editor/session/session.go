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

	beforeCheckpoint func() // tests: called before each checkpoint starts
}

// defaultRetry is how often a refused checkpoint is tried again.
const defaultRetry = 2 * time.Second

// Run runs the editor until the user quits (C-x C-c) or ctx ends.
func Run(ctx context.Context, t *task.Task, cfg Config) error {
	if cfg.Memory == 0 {
		cfg.Memory = emacs.DefaultMem
	}
	if cfg.RetryEvery == 0 {
		cfg.RetryEvery = defaultRetry
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
	l := &loop{cfg: cfg, ed: ed,
		draw: func(_ context.Context, p []byte) error { _, _ = cfg.Screen.Write(p); return nil },
		save: func(ctx context.Context) error {
			if err := t.Checkpoint(ctx); err != nil {
				return err
			}
			return cfg.Screen.Checkpoint(ctx)
		}}
	return l.start(ctx)
}

// loop is the editor's main loop, over how it draws and checkpoints.
type loop struct {
	cfg   Config
	ed    *emacs.Editor
	owing bool // a checkpoint is due (the last one was refused)
	// draw sends output to the screen; save checkpoints the editor with
	// the screen.
	draw func(ctx context.Context, p []byte) error
	save func(ctx context.Context) error
	// applied, if set, is told each burst of input applied (before the
	// redisplay and the checkpoint).
	applied func(in []screen.Input)
	// failed, if set, says why the program must stop at once (its RU
	// aborted during a call the editor cannot see, e.g. a save).
	failed func() error
}

// start redraws the whole screen (the screen may hold an older or newer
// image than the editor's restored state), checkpoints and runs.
func (l *loop) start(ctx context.Context) error {
	l.cfg.Screen.SetApplied(l.ed.Applied())
	if err := l.draw(ctx, l.ed.Redisplay()); err != nil {
		return err
	}
	if err := l.checkpoint(ctx); err != nil {
		return err
	}
	return l.run(ctx)
}

func (l *loop) run(ctx context.Context) error {
	for !l.ed.Quit() {
		in, err := l.read(ctx)
		if err != nil {
			return err
		}
		if err := l.apply(ctx, in); err != nil {
			return err
		}
		if len(in) > 0 || l.owing {
			if err := l.checkpoint(ctx); err != nil {
				return err
			}
		}
	}
	if err := l.draw(ctx, []byte("\x1b[0m\x1b[H\x1b[2J")); err != nil {
		return err
	}
	return l.checkpoint(ctx)
}

// apply feeds a burst of input to the editor and draws the result.
func (l *loop) apply(ctx context.Context, in []screen.Input) error {
	if len(in) == 0 {
		return nil
	}
	for _, i := range in {
		l.ed.Input(i.Seq, i.Data)
	}
	if l.failed != nil {
		if err := l.failed(); err != nil {
			return err
		}
	}
	if l.applied != nil {
		l.applied(in)
	}
	return l.draw(ctx, l.ed.Redisplay())
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
	if l.cfg.beforeCheckpoint != nil {
		l.cfg.beforeCheckpoint()
	}
	start := time.Now()
	err := l.save(ctx)
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
