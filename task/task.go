package task

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/clock"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/stm"
)

// Policy says when a task is checkpointed. Several may be combined; the
// zero Policy checkpoints only when the task asks.
type Policy struct {
	// Every checkpoints at the first safe point after this much time.
	Every time.Duration
	// PowerOfTwo checkpoints when the work done (Progress) reaches a power
	// of two, like the paper's prime computation (§6.2).
	PowerOfTwo bool
	// Percent checkpoints every Percent% of the total work (Progress).
	Percent int
}

// Config describes a stable task.
type Config struct {
	Name   string
	Store  rvm.PageStore // where checkpoints go; nil runs without fault tolerance
	Policy Policy
	Clock  clock.Clock
	Logger *zap.Logger
	// PageSize of the task's segments (default rvm.DefaultPageSize).
	PageSize int
	// HeapSize is the size of the task's heap segment, where Object
	// allocates (default DefaultHeapSize).
	HeapSize int
	// Failpoint is called at each checkpoint commit (FPCheckpointSave,
	// FPCheckpointSaved); nil (no failpoint) in production.
	Failpoint failpoint.Hook
	// Unit, when set, makes the task a recovery unit (unit.go): it
	// checkpoints through the pager into its segments' units, with its
	// application RU, and Store is not used.
	Unit *UnitConfig
}

// Stats is what a run of the task did.
type Stats struct {
	Restored     bool          `json:"restored"`      // the task resumed from a checkpoint
	Checkpoints  int           `json:"checkpoints"`   // checkpoints taken in this run
	PagesSaved   int           `json:"pages_saved"`   // pages written to the store
	BytesSaved   int64         `json:"bytes_saved"`   // their size
	TimeStopped  time.Duration `json:"stopped_ns"`    // time spent checkpointing
	LastProgress int64         `json:"last_progress"` // work done at the last checkpoint
	Skipped      int           `json:"skipped"`       // checkpoints refused for want of a backup
	Rollbacks    int           `json:"rollbacks"`     // re-entries after an abort of the task's RU

	// Total is the total work the task last told Progress about when it
	// checkpointed (0: never): LastProgress of Total is done.
	Total int64 `json:"total,omitempty"`

	// Stops counts each stop of TimeStopped by its length, for its median
	// (in process only: not in the task's record).
	Stops StopHistogram `json:"-"`
	// Waits counts, for each checkpoint at a Poll, the part of its stop
	// spent waiting for the commit before it (in process only).
	Waits StopHistogram `json:"-"`
}

// Task is a running stable task. Its methods are for the task's own
// goroutine.
type Task struct {
	cfg  Config
	log  *zap.Logger
	segs []*rvm.Segment

	mu    sync.Mutex // guards stats, which the task server reads from other goroutines
	stats Stats

	done, total  int64
	nextWork     int64 // work at which the next work-based checkpoint is due
	nextDeadline time.Time

	// maybeDue is all Poll reads while nothing is due: set by Progress
	// when done reaches nextWork and by a timer at nextDeadline (from the
	// clock's goroutine); poll recomputes it.
	maybeDue atomic.Bool
	timer    clock.Timer // pending timer, nil without Policy.Every

	inflight *flight            // the checkpoint being committed, if any (flight.go)
	carry    []rvm.SegmentPages // pages of a refused commit, for the next checkpoint

	unit *unitRT // the task's recovery unit (Config.Unit), nil for a task checkpointing into Store
}

// ErrNoFaultTolerance is returned by Checkpoint for a task without a store.
var ErrNoFaultTolerance = errors.New("task: no checkpoint store (fault tolerance is off)")

// Run runs entry as the stable task cfg.Name until it returns. A task with
// a store takes a last checkpoint when entry returns nil (skipped, like any
// other, when the bank has no backup). A panic of entry (on its own
// goroutine) fails the task: Run returns ErrPanicked with the value, and
// nothing is checkpointed after the last checkpoint the task took.
func Run(ctx context.Context, cfg Config, entry func(ctx context.Context, t *Task) error) (Stats, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.HeapSize <= 0 {
		cfg.HeapSize = DefaultHeapSize
	}
	t := &Task{cfg: cfg, log: cfg.Logger.With(zap.String("task", cfg.Name))}
	if cfg.Unit != nil {
		t.unit = newUnitRT(*cfg.Unit, t.log, cfg.Failpoint)
		t.cfg.Store = unitStore{t.unit}
	}
	t.scheduleNext(cfg.Clock.Now())
	defer t.close()
	err := t.runToEnd(ctx, entry)
	return t.Stats(), err
}

// runToEnd enters the program — again from the last checkpoint after each
// abort of a recovery-unit task's RU (rollback.go) — and takes its last
// checkpoint when it returns nil.
func (t *Task) runToEnd(ctx context.Context, entry func(ctx context.Context, t *Task) error) error {
	for {
		err := t.enterRollingBack(ctx, entry)
		if t.unit == nil {
			t.drain() // the stats returned include a checkpoint committed meanwhile
		}
		if err != nil || t.cfg.Store == nil {
			return err
		}
		err = t.lastCheckpoint(ctx)
		if t.unit != nil && errors.Is(err, servers.ErrAborted) && ctx.Err() == nil {
			if rerr := t.rollback(ctx, err); rerr != nil {
				return fmt.Errorf("task %s: roll back after %v: %w", t.cfg.Name, err, rerr)
			}
			continue // the last checkpoint aborted: the program is re-entered
		}
		if errors.Is(err, stm.ErrNoBackup) { // finished, but unprotected: nothing is lost by saying so
			t.log.Warn("final checkpoint refused: no backup attached", zap.Error(err)) // counted in Skipped
			err = nil
		}
		return err
	}
}

// lastCheckpoint is the checkpoint Run takes when the program returned.
// For a recovery unit with a Final hook (its server records its end
// there) it is the task's last action: the hook's writes and the drop of
// every segment's pages (the task never restarts) commit in one atomic
// action with the task's RU (unit.go).
func (t *Task) lastCheckpoint(ctx context.Context) error {
	if t.unit == nil || t.unit.cfg.Final == nil {
		return t.Checkpoint(ctx)
	}
	start := t.cfg.Clock.Now()
	err := t.settle(ctx)
	if err == nil {
		err = t.unit.finish(ctx)
	}
	t.stopped(t.cfg.Clock.Now().Sub(start))
	switch {
	case err == nil:
		t.updateStats(func(st *Stats) { st.Checkpoints++; st.LastProgress = t.done })
	case isNoBackup(err):
		t.skipped(err)
	}
	if err != nil {
		return fmt.Errorf("task %s: last checkpoint: %w", t.cfg.Name, err)
	}
	return nil
}

func (t *Task) close() {
	if t.timer != nil {
		t.timer.Stop()
	}
	t.drain()
	if t.unit != nil {
		t.unit.detach()
	}
	for _, s := range t.segs {
		_ = s.Close()
	}
}

// Segment maps the task's segment name of size bytes. When a checkpoint of
// it exists it comes back as it was then, and Restored reports true.
func (t *Task) Segment(ctx context.Context, name string, size int) (*rvm.Segment, error) {
	if s := t.segment(name); s != nil { // mapped before a rollback: restored in place
		if len(s.Bytes()) < size {
			return nil, fmt.Errorf("%w: segment %q of %d bytes mapped again with %d", rvm.ErrBadConfig, name, len(s.Bytes()), size)
		}
		return s, nil
	}
	s, err := rvm.NewSegment(name, size, rvm.Config{PageSize: t.cfg.PageSize, Logger: t.log})
	if err != nil {
		return nil, err
	}
	if t.unit != nil {
		return t.addUnitSegment(ctx, s)
	}
	if t.cfg.Store != nil {
		switch err := s.Restore(ctx, t.cfg.Store); {
		case err == nil:
			t.updateStats(func(st *Stats) { st.Restored = true })
			t.log.Info("segment restored from its last checkpoint", zap.String("segment", name))
		case errors.Is(err, rvm.ErrNoImage):
		default:
			_ = s.Close()
			return nil, err
		}
	}
	t.segs = append(t.segs, s)
	return s, nil
}

// segment returns the task's segment name, nil if it has none.
func (t *Task) segment(name string) *rvm.Segment {
	for _, s := range t.segs {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

// Restored reports whether the task resumed from a checkpoint.
func (t *Task) Restored() bool { return t.Stats().Restored }

// Stats is what the task did so far in this run. Safe from any goroutine.
func (t *Task) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}

// updateStats changes the stats under their lock.
func (t *Task) updateStats(f func(st *Stats)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(&t.stats)
}

// Progress tells the policy how much of the work is done.
func (t *Task) Progress(done, total int64) {
	t.done, t.total = done, total
	if t.nextWork == 0 {
		t.nextWork = t.nextThreshold(t.Stats().LastProgress)
	}
	if t.nextWork > 0 && done >= t.nextWork {
		t.maybeDue.Store(true)
	}
}

// nextThreshold is the amount of work at which the next work-based
// checkpoint falls, after done.
func (t *Task) nextThreshold(done int64) int64 {
	next := int64(0)
	if t.cfg.Policy.PowerOfTwo {
		next = int64(1) << bits.Len64(uint64(done))
	}
	if p := int64(t.cfg.Policy.Percent); p > 0 && t.total > 0 {
		pct := percentThreshold(done, t.total, p)
		if next == 0 || pct < next {
			next = pct
		}
	}
	return next
}

// Poll is a safe point: if the policy says a checkpoint is due, it is taken
// now: the task stops while its dirty pages are copied, and the copy is
// committed in the background (flight.go). A checkpoint refused because the
// bank has no backup (the partner is down: stm.ErrNoBackup) does not stop
// the task: it runs on unprotected and tries again at the next due point.
// While nothing is due, Poll costs a few loads and no call, so a
// program may call it in its innermost loop.
func (t *Task) Poll(ctx context.Context) error {
	if !t.maybeDue.Load() && forcedPending.Load() == 0 {
		return nil
	}
	return t.poll(ctx)
}

// poll is Poll once something may be due.
func (t *Task) poll(ctx context.Context) error {
	if t.cfg.Store == nil || !t.due() {
		t.maybeDue.Store(t.nextWork > 0 && t.done >= t.nextWork)
		if t.cfg.Policy.Every > 0 && !t.cfg.Clock.Now().Before(t.nextDeadline) {
			t.maybeDue.Store(true) // the timer fired as we cleared the flag
		}
		return nil
	}
	start := t.cfg.Clock.Now()
	err := t.takeCheckpoint(ctx)
	now := t.cfg.Clock.Now()
	t.stopped(now.Sub(start))
	t.scheduleNext(now)
	if err != nil {
		return fmt.Errorf("task %s: checkpoint: %w", t.cfg.Name, err)
	}
	return nil
}

// takeCheckpoint settles the checkpoint in flight, captures the segments
// and launches their commit.
func (t *Task) takeCheckpoint(ctx context.Context) error {
	start := t.cfg.Clock.Now()
	err := t.settle(ctx)
	waited := t.cfg.Clock.Now().Sub(start)
	t.updateStats(func(s *Stats) { s.Waits.add(waited) })
	if err != nil {
		return err
	}
	if t.unit != nil {
		if err := t.unit.attach(ctx); err != nil {
			return err
		}
		t.unit.wholeIfStale()
	}
	f, err := t.capture(ctx)
	if err != nil {
		return err
	}
	t.launch(ctx, f)
	return nil
}

// scheduleNext sets when the next checkpoint falls due, after one taken (or
// attempted) at now.
func (t *Task) scheduleNext(now time.Time) {
	t.nextDeadline = now.Add(t.cfg.Policy.Every)
	t.nextWork = t.nextThreshold(t.done)
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	t.maybeDue.Store(false)
	if t.cfg.Policy.Every > 0 && t.cfg.Store != nil {
		t.timer = t.cfg.Clock.AfterFunc(t.cfg.Policy.Every, func() { t.maybeDue.Store(true) })
	}
}

func isNoBackup(err error) bool { return errors.Is(err, stm.ErrNoBackup) }

// skipped counts a checkpoint refused for want of a backup.
func (t *Task) skipped(err error) {
	if t.Stats().Skipped == 0 {
		t.log.Warn("checkpoint refused: no backup; running unprotected until one is attached", zap.Error(err))
	}
	t.updateStats(func(st *Stats) { st.Skipped++ })
}

func (t *Task) due() bool {
	if t.requested() { // RequestCheckpoint (request.go)
		return true
	}
	if t.nextWork > 0 && t.done >= t.nextWork {
		return true
	}
	return t.cfg.Policy.Every > 0 && !t.cfg.Clock.Now().Before(t.nextDeadline)
}

// Checkpoint saves the task's segments now and returns once the store has
// them (after the commit in flight, if any).
func (t *Task) Checkpoint(ctx context.Context) error {
	if t.cfg.Store == nil {
		return ErrNoFaultTolerance
	}
	start := t.cfg.Clock.Now()
	err := t.takeCheckpoint(ctx)
	if err == nil {
		err = t.settle(ctx)
	}
	now := t.cfg.Clock.Now()
	t.stopped(now.Sub(start))
	t.scheduleNext(now)
	if err != nil {
		return fmt.Errorf("task %s: checkpoint: %w", t.cfg.Name, err)
	}
	if t.carry != nil {
		return fmt.Errorf("task %s: checkpoint: %w", t.cfg.Name, stm.ErrNoBackup)
	}
	t.log.Debug("checkpoint", zap.Int64("progress", t.done), zap.Duration("took", now.Sub(start)))
	return nil
}

// percentThreshold is the first work count above done at a multiple of p%
// of total, rounded up to whole units: with 196 pages and 1%, every 1.96
// pages (2, 4, 6, 8, 10, 12, ...), so about 100 checkpoints, not one per
// page as a step rounded down to 1 would give.
func percentThreshold(done, total, p int64) int64 {
	k := done*100/(total*p) + 1 // the first multiple of p% above done
	return (k*total*p + 99) / 100
}
