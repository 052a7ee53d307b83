package task

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/pager"
	"github.com/ftm-in-go/ftm/stm"
)

// Units is what a node provides so that its stable tasks are recovery
// units: the driver that runs a bank's recovery units now. Drivers come
// and go (a bank that refuses commits has none), so a task asks again at
// each checkpoint.
type Units interface {
	// Driver returns the driver running bank's recovery units, nil while
	// there is none.
	Driver(bank string) *servers.Driver
}

// UnitConfig makes a task a recovery unit (Config.Unit): its application
// client runs on its bank's driver, each of its segments is the unit of a
// pager server, and a checkpoint is one atomic action of them all.
type UnitConfig struct {
	// Name is the task's application RU, unique in the system (the task
	// server names it BANK/task<ID>); its segments' units are
	// pager.UnitName(Name, segment).
	Name  string
	Bank  string    // the bank, as Units names it
	STM   *stm.Bank // the bank, read directly to restore while it has no driver
	Units Units
	// Final, when set, runs in the STM transaction that precommits the
	// task's last checkpoint (at the end of Run): what it writes commits
	// if and only if that checkpoint does.
	Final func(tx *stm.Tx) error
	// InDoubtWait bounds how long a restore waits for a checkpoint group
	// of the task left in doubt in its bank by a crash (indoubt.go);
	// DefaultInDoubtWait when zero.
	InDoubtWait time.Duration
}

// errNoDriver: the task's bank has no driver now; its checkpoint is
// skipped like one refused for want of a backup.
var errNoDriver = errors.New("task: the bank runs no recovery units now")

// segServer is a segment's pager server, running for the task.
type segServer struct {
	srv    *pager.Server
	cancel context.CancelFunc
	done   chan error
}

// unitRT is what makes a task a recovery unit: its client and its
// segments' servers on the bank's current driver. Only the task's
// goroutine uses it, and the commit in flight, which the task waits for
// before it touches it again.
type unitRT struct {
	cfg     UnitConfig
	log     *zap.Logger
	fail    failpoint.Hook  // the pager's (pager.FPSavesSent)
	driver  *servers.Driver // nil while the bank has none
	client  *servers.Client
	pager   *pager.Pager
	servers map[string]*segServer // by segment
	segs    []*rvm.Segment
	// used: the program took its client since the last checkpoint, so its
	// RU may hold calls a change of driver would abort.
	used bool
	// stale: the units may not hold the task's baseline (it was restored
	// without them, or they restarted): the next checkpoint saves whole
	// segments.
	stale bool
	// orphaned: the units were stopped (forget) after the program used
	// its client: the next attach reports its RU aborted.
	orphaned bool
}

func newUnitRT(cfg UnitConfig, log *zap.Logger, fail failpoint.Hook) *unitRT {
	return &unitRT{cfg: cfg, log: log.With(zap.String("unit", cfg.Name)), fail: fail, servers: map[string]*segServer{}}
}

// attach makes the task's client and segment servers run on the bank's
// current driver. A change of driver after the program used its client
// aborts the task's RU (its calls ran on units that restarted):
// servers.ErrAborted, and the task is rolled back.
func (u *unitRT) attach(ctx context.Context) error {
	d := u.cfg.Units.Driver(u.cfg.Bank)
	if d == u.driver {
		return nil
	}
	had := u.driver != nil
	u.detach()
	if d == nil {
		return nil
	}
	if err := u.start(ctx, d); err != nil { // tried again at the next checkpoint
		u.detach()
		u.log.Warn("cannot run the task's units on its bank's driver; its checkpoints are skipped until they run", zap.Error(err))
		return nil
	}
	if had || len(u.segs) > 0 {
		u.stale = true // the units restarted, or were never told of the segments
	}
	if (had || u.orphaned) && u.used {
		u.orphaned = false
		return fmt.Errorf("task %s: its bank's driver changed: %w", u.cfg.Name, servers.ErrAborted)
	}
	return nil
}

// start runs the client and a server per segment on d.
func (u *unitRT) start(ctx context.Context, d *servers.Driver) error {
	c, err := servers.NewClient(servers.ClientConfig{Name: u.cfg.Name, Driver: d, Logger: u.log})
	if err != nil {
		return fmt.Errorf("task %s: client: %w", u.cfg.Name, err)
	}
	u.driver, u.client = d, c
	if u.pager, err = pager.New(c, u.cfg.Name, pager.Options{Failpoint: u.fail}); err != nil {
		return err
	}
	for _, s := range u.segs {
		if err := u.serve(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// serve starts the pager server of segment s on the current driver and
// waits until its unit runs.
func (u *unitRT) serve(ctx context.Context, s *rvm.Segment) error {
	ss := u.servers[s.Name()] // started already if a group in doubt named it (indoubt.go)
	if ss == nil {
		var err error
		if ss, err = u.runServer(ctx, s.Name(), s.PageSize()); err != nil {
			return err
		}
	}
	if err := u.pager.Add(s); err != nil {
		return err
	}
	// Not cut short by ctx: a server stopped while it binds its state
	// would cut an STM commit mid-way, which leaves the bank's backup in an
	// unknown state (stm marks it broken).
	return waitUnit(context.WithoutCancel(ctx), u.driver, ss)
}

// runServer starts the pager server of segment seg on the current driver.
func (u *unitRT) runServer(ctx context.Context, seg string, pageSize int) (*segServer, error) {
	srv, err := pager.NewServer(pager.Config{Task: u.cfg.Name, Segment: seg, PageSize: pageSize, Driver: u.driver, Logger: u.log})
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ss := &segServer{srv: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { ss.done <- srv.Run(sctx) }()
	u.servers[seg] = ss
	return ss, nil
}

// waitUnit waits until the driver runs ss's unit (or its Run ended).
func waitUnit(ctx context.Context, d *servers.Driver, ss *segServer) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, us := range d.Inspect().Units {
			if us.Unit == ss.srv.Name() && us.Up {
				return nil
			}
		}
		select {
		case err := <-ss.done:
			ss.done <- err
			return fmt.Errorf("task: segment server %s: %w", ss.srv.Name(), orStopped(err))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return fmt.Errorf("task: segment server %s did not start within 10s", ss.srv.Name())
}

// errStopped: a segment server's Run ended without an error before its
// unit ran.
var errStopped = errors.New("task: stopped before its unit ran")

func orStopped(err error) error {
	if err != nil {
		return err
	}
	return errStopped
}

// detach stops the client and the segment servers (their states stay in
// the bank).
func (u *unitRT) detach() {
	for name, ss := range u.servers {
		ss.cancel()
		if err := <-ss.done; err != nil && !errors.Is(err, context.Canceled) {
			u.log.Debug("segment server ended", zap.String("segment", name), zap.Error(err))
		}
		delete(u.servers, name)
	}
	if u.client != nil {
		u.client.Close()
	}
	u.driver, u.client, u.pager = nil, nil, nil
}

// add makes s one of the task's segments, restored from its unit (or
// from the bank when no driver runs it); restored reports an image was
// found.
func (u *unitRT) add(ctx context.Context, s *rvm.Segment) (restored bool, err error) {
	if err := u.attach(ctx); err != nil && !errors.Is(err, servers.ErrAborted) {
		return false, err
	}
	u.segs = append(u.segs, s)
	if u.driver != nil {
		if err := u.serve(ctx, s); err != nil { // tried again at the next checkpoint
			u.detach()
			u.log.Warn("cannot run a segment's unit; the task's checkpoints are skipped until it runs",
				zap.String("segment", s.Name()), zap.Error(err))
		}
	}
	ls := &loadStore{u: u, emptyIsNone: true}
	err = s.Restore(ctx, ls)
	if errors.Is(err, rvm.ErrNoImage) {
		return false, nil
	}
	if err != nil {
		u.forget(s)
	}
	return err == nil, err
}

// restore puts every segment back, in place, as it was at the task's
// last committed checkpoint (zero where none was).
func (u *unitRT) restore(ctx context.Context) error {
	if err := u.attach(ctx); err != nil && !errors.Is(err, servers.ErrAborted) {
		return err
	}
	u.stale = u.driver == nil
	u.used = false
	for _, s := range u.segs {
		if err := s.Restore(ctx, &loadStore{u: u}); err != nil {
			return err
		}
	}
	return nil
}

// wholeIfStale marks every page of every segment written when the units
// may not hold the task's baseline, so the next checkpoint saves them all.
func (u *unitRT) wholeIfStale() {
	if !u.stale || u.driver == nil {
		return
	}
	for _, s := range u.segs {
		s.Hint(0, len(s.Bytes()))
	}
	u.stale = false
}

// finish is the task's last action: its end (cfg.Final) and the drop of
// every segment's pages commit in one atomic action with its RU. With no
// driver, nothing is committed: a refusal as for want of a backup.
func (u *unitRT) finish(ctx context.Context) error {
	if err := u.attach(ctx); err != nil {
		return err
	}
	if u.driver == nil {
		return fmt.Errorf("%w: %w", stm.ErrNoBackup, errNoDriver)
	}
	var err error
	if len(u.segs) == 0 { // no segment to carry the end: the server records it after
		err = u.client.Checkpoint(ctx)
	} else {
		first := u.servers[u.segs[0].Name()]
		first.srv.SetFinal(u.cfg.Final)
		defer first.srv.SetFinal(nil)
		err = u.pager.Drop(ctx)
	}
	if errors.Is(err, servers.ErrClosed) { // the driver stopped under the action: nothing committed
		return fmt.Errorf("%w: %w", stm.ErrNoBackup, err)
	}
	return err
}

// loadStore reads a segment's last committed pages through its unit, or
// straight from the bank while no driver runs it (waiting for a
// checkpoint group in doubt: loadCommitted).
type loadStore struct {
	u           *unitRT
	emptyIsNone bool // no page: rvm.ErrNoImage (a first start)
}

func (l *loadStore) LoadPages(ctx context.Context, seg string) (map[int][]byte, error) {
	pages, err := l.u.loadCommitted(ctx, seg)
	if err == nil && len(pages) == 0 && l.emptyIsNone {
		return nil, rvm.ErrNoImage
	}
	return pages, err
}

func (l *loadStore) SavePages(context.Context, string, int, map[int][]byte) error {
	return errCaptureOnly
}

// unitStore is a recovery-unit task's checkpoint store: the pager, or a
// refusal counted as skipped while the bank has no driver.
type unitStore struct{ u *unitRT }

func (s unitStore) SaveBatch(ctx context.Context, batch []rvm.SegmentPages) error {
	if s.u.pager == nil {
		return fmt.Errorf("%w: %w", stm.ErrNoBackup, errNoDriver)
	}
	err := s.u.pager.Store().SaveBatch(ctx, batch)
	if errors.Is(err, servers.ErrClosed) { // the driver stopped under the commit: not saved
		return fmt.Errorf("%w: %w", stm.ErrNoBackup, err)
	}
	return err
}

func (s unitStore) SavePages(ctx context.Context, seg string, n int, pages map[int][]byte) error {
	return s.SaveBatch(ctx, []rvm.SegmentPages{{Segment: seg, NPages: n, Pages: pages}})
}

func (s unitStore) LoadPages(ctx context.Context, seg string) (map[int][]byte, error) {
	return (&loadStore{u: s.u}).LoadPages(ctx, seg)
}
