package session

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/pager"
)

// SegmentSpec declares one segment of a program run as a recovery unit.
type SegmentSpec struct {
	Name string
	Size int
}

// UnitConfig runs a program as a recovery unit (RunUnit).
type UnitConfig struct {
	Name     string          // the program's RU name, unique in the system
	Driver   *servers.Driver // runs the program's RU and its segments' units
	Segments []SegmentSpec   // the program's segments, each a unit of the pager
	Logger   *zap.Logger
	// OnRollback, if set, is told each time the system rolled the program
	// back to its last checkpoint and is about to re-enter it.
	OnRollback func(err error)
}

// Unit is what a program run by RunUnit is given: its recovery unit's
// client (its calls to reliable servers record their dependencies), its
// segments as at its last checkpoint, and the checkpoint, one atomic
// action of its RU, its segments' RUs and every RU it depends on.
type Unit struct {
	client *servers.Client
	pager  *pager.Pager
	segs   map[string]*rvm.Segment
}

// Client is the program's recovery unit.
func (u *Unit) Client() *servers.Client { return u.client }

// Segment returns the declared segment name.
func (u *Unit) Segment(name string) *rvm.Segment { return u.segs[name] }

// Checkpoint commits the pages written since the last checkpoint with the
// program's RU and every RU it depends on, as one atomic action.
func (u *Unit) Checkpoint(ctx context.Context) error {
	_, err := u.pager.Checkpoint(ctx)
	return err
}

// RunUnit runs entry as a recovery unit until it returns: a client named
// cfg.Name on cfg.Driver, one pager unit per declared segment (served on
// the same driver while RunUnit runs), the segments restored from their
// last checkpoint. When entry returns an error that says the program's RU
// aborted (servers.ErrAborted: a server it depended on lost its RU), the
// system rolls the program back — its segments restored to its last
// checkpoint — and enters it again from the top; the program handles
// nothing.
func RunUnit(ctx context.Context, cfg UnitConfig, entry func(ctx context.Context, u *Unit) error) error {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	segs, err := serveSegments(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeAll(segs)
	u, err := newUnit(cfg, segs)
	if err != nil {
		return err
	}
	defer u.client.Close()
	for {
		if err := u.pager.Restore(ctx); err != nil {
			return fmt.Errorf("session: restore %s: %w", cfg.Name, err)
		}
		err := entry(ctx, u)
		if !errors.Is(err, servers.ErrAborted) || ctx.Err() != nil {
			return err
		}
		cfg.Logger.Info("recovery unit aborted: rolled back to its last checkpoint and entered again",
			zap.String("unit", cfg.Name), zap.Error(err))
		if cfg.OnRollback != nil {
			cfg.OnRollback(err)
		}
	}
}

func newUnit(cfg UnitConfig, segs []*rvm.Segment) (*Unit, error) {
	c, err := servers.NewClient(servers.ClientConfig{Name: cfg.Name, Driver: cfg.Driver, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	p, err := pager.New(c, cfg.Name, pager.Options{}, segs...)
	if err != nil {
		c.Close()
		return nil, err
	}
	u := &Unit{client: c, pager: p, segs: map[string]*rvm.Segment{}}
	for _, s := range segs {
		u.segs[s.Name()] = s
	}
	return u, nil
}

// serveSegments makes the declared segments and runs their pager units
// on the driver until ctx ends.
func serveSegments(ctx context.Context, cfg UnitConfig) ([]*rvm.Segment, error) {
	var segs []*rvm.Segment
	for _, spec := range cfg.Segments {
		s, err := rvm.NewSegment(spec.Name, spec.Size, rvm.Config{Method: rvm.Compare, Logger: cfg.Logger})
		if err != nil {
			closeAll(segs)
			return nil, err
		}
		segs = append(segs, s)
		srv, err := pager.NewServer(pager.Config{Task: cfg.Name, Segment: spec.Name, PageSize: s.PageSize(),
			Driver: cfg.Driver, Logger: cfg.Logger})
		if err != nil {
			closeAll(segs)
			return nil, err
		}
		go func() {
			if err := srv.Run(ctx); err != nil {
				cfg.Logger.Warn("segment server ended", zap.String("unit", srv.Name()), zap.Error(err))
			}
		}()
	}
	return segs, nil
}

func closeAll(segs []*rvm.Segment) {
	for _, s := range segs {
		_ = s.Close()
	}
}
