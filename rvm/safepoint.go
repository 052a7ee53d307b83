package rvm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/clock"
)

// ErrNoSafePoint is returned when a task did not reach a safe point in time.
var ErrNoSafePoint = errors.New("rvm: task did not reach a safe point")

// SafePoint is where a task can be stopped for a checkpoint: the task calls
// Poll often (an atomic load when nobody wants it to stop), and every kernel
// call of a task wired with AttachTask is a safe point too (a task blocked
// in Receive, or waiting for room to Send, is stopped where it waits); a
// checkpointer calls Stop, does its work, and calls Resume. It implements
// kernel.SafePoint.
type SafePoint struct {
	// Clock times Stop's timeout and the stop; nil means clock.Real.
	Clock clock.Clock
	// Name names the task in errors (AttachTask sets it to the task's name
	// if empty; guarded by mu once the SafePoint is in use).
	Name string

	want atomic.Bool

	mu      sync.Mutex
	parked  chan struct{} // closed when the task parks (nil once it has)
	resume  chan struct{} // closed to let it go on
	stopped bool          // a Stop succeeded and Resume has not been called
	blocked int           // kernel calls of the task waiting (Blocked, not yet Unblocked)
}

var _ kernel.SafePoint = (*SafePoint)(nil)

// AttachTask makes every kernel call of t a safe point (kernel.SetSafePoint).
func (sp *SafePoint) AttachTask(t *kernel.Task) {
	sp.mu.Lock()
	if sp.Name == "" {
		sp.Name = t.Name()
	}
	sp.mu.Unlock()
	t.SetSafePoint(sp)
}

// Poll parks the task if a checkpoint wants it stopped, until Resume.
// The fast path is small enough to be inlined into the task's loop.
func (sp *SafePoint) Poll() {
	if sp.want.Load() {
		sp.park()
	}
}

// park is Poll's slow path: it tells a waiting Stop that the task is
// stopped (if nobody has yet) and waits for Resume.
func (sp *SafePoint) park() {
	sp.mu.Lock()
	if !sp.want.Load() {
		sp.mu.Unlock()
		return
	}
	resume := sp.resume
	sp.signalLocked()
	sp.mu.Unlock()
	<-resume
}

// signalLocked tells a Stop waiting for the task that it is stopped.
func (sp *SafePoint) signalLocked() {
	if sp.parked != nil {
		close(sp.parked)
		sp.parked = nil
	}
}

// Blocked implements kernel.SafePoint: a kernel call of the task is about
// to wait; until Unblocked the task counts as stopped.
func (sp *SafePoint) Blocked() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.blocked++
	if sp.want.Load() {
		sp.signalLocked()
	}
}

// Unblocked implements kernel.SafePoint: the wait is over; the task stays
// in the kernel while a checkpoint holds it.
func (sp *SafePoint) Unblocked() {
	sp.mu.Lock()
	sp.blocked--
	sp.mu.Unlock()
	sp.Poll()
}

// Stop asks the task to stop and waits until it is parked in Poll or
// waiting in a kernel call, at most timeout. A task that does not get there
// is reported (ErrNoSafePoint, naming the task and the time waited), not
// waited for.
func (sp *SafePoint) Stop(ctx context.Context, timeout time.Duration) error {
	sp.mu.Lock()
	if sp.stopped || sp.want.Load() {
		sp.mu.Unlock()
		return errors.New("rvm: safe point already stopping")
	}
	parked := make(chan struct{})
	sp.parked, sp.resume = parked, make(chan struct{})
	sp.want.Store(true)
	if sp.blocked > 0 { // waiting in the kernel: stopped already
		sp.parked, sp.stopped = nil, true
		sp.mu.Unlock()
		return nil
	}
	sp.mu.Unlock()
	expired := sp.clock().After(timeout)
	select {
	case <-parked:
		sp.mu.Lock()
		sp.stopped = true
		sp.mu.Unlock()
		return nil
	case <-expired:
		sp.cancel()
		sp.mu.Lock()
		name := sp.Name
		sp.mu.Unlock()
		return fmt.Errorf("%w: task %q not stopped within %v", ErrNoSafePoint, name, timeout)
	case <-ctx.Done():
		sp.cancel()
		return ctx.Err()
	}
}

func (sp *SafePoint) clock() clock.Clock {
	if sp.Clock == nil {
		return clock.Real{}
	}
	return sp.Clock
}

// cancel withdraws a Stop the task never answered (it may park just now: it
// is then let go at once).
func (sp *SafePoint) cancel() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.want.Store(false)
	sp.parked = nil
	close(sp.resume)
}

// Resume lets a stopped task go on.
func (sp *SafePoint) Resume() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if !sp.stopped {
		return
	}
	sp.stopped = false
	sp.want.Store(false)
	close(sp.resume)
}

// TaskCheckpoint says what checkpointing a task did.
type TaskCheckpoint struct {
	Segments int
	Pages    int
	Bytes    int
	Stopped  time.Duration // how long the task was held at its safe point
}

// CheckpointTask stops the task at its safe point sp (within timeout), saves
// the dirty pages of its segments (atomically with a BatchStore), and lets
// it go on.
func (sp *SafePoint) CheckpointTask(ctx context.Context, timeout time.Duration, store PageStore, segs ...*Segment) (TaskCheckpoint, error) {
	if err := sp.Stop(ctx, timeout); err != nil {
		return TaskCheckpoint{}, err
	}
	start := sp.clock().Now()
	defer sp.Resume()
	st, err := Checkpoint(ctx, store, segs...)
	if err != nil {
		return TaskCheckpoint{}, err
	}
	return TaskCheckpoint{Segments: len(segs), Pages: st.Pages, Bytes: st.Bytes, Stopped: sp.clock().Now().Sub(start)}, nil
}
