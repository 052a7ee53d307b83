package rvm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftm-in-go/ftm/kernel/clock"
)

// ErrNoSafePoint is returned when a task did not reach a safe point in time.
var ErrNoSafePoint = errors.New("rvm: task did not reach a safe point")

// SafePoint is where a task can be stopped for a checkpoint: the task calls
// Poll often (an atomic load when nobody wants it to stop); a checkpointer
// calls Stop, does its work, and calls Resume.
type SafePoint struct {
	// Clock times Stop's timeout and the stop; nil means clock.Real.
	Clock clock.Clock

	want atomic.Bool

	mu      sync.Mutex
	parked  chan struct{} // closed when the task parks
	resume  chan struct{} // closed to let it go on
	stopped bool          // a Stop succeeded and Resume has not been called
}

// Poll parks the task if a checkpoint wants it stopped, until Resume.
// The fast path is small enough to be inlined into the task's loop.
func (sp *SafePoint) Poll() {
	if sp.want.Load() {
		sp.park()
	}
}

// park is Poll's slow path.
func (sp *SafePoint) park() {
	sp.mu.Lock()
	if !sp.want.Load() || sp.parked == nil {
		sp.mu.Unlock()
		return
	}
	parked, resume := sp.parked, sp.resume
	sp.parked = nil
	close(parked)
	sp.mu.Unlock()
	<-resume
}

// Stop asks the task to stop and waits until it is parked in Poll, at most
// timeout. A task that does not get there is reported, not waited for.
func (sp *SafePoint) Stop(ctx context.Context, timeout time.Duration) error {
	sp.mu.Lock()
	if sp.stopped || sp.parked != nil {
		sp.mu.Unlock()
		return errors.New("rvm: safe point already stopping")
	}
	parked := make(chan struct{})
	sp.parked, sp.resume = parked, make(chan struct{})
	sp.want.Store(true)
	sp.mu.Unlock()
	expired := sp.clock().After(timeout)
	select {
	case <-parked:
		sp.mu.Lock()
		sp.stopped = true
		sp.mu.Unlock()
		return nil
	case <-expired:
		sp.cancel(parked)
		return fmt.Errorf("%w within %v", ErrNoSafePoint, timeout)
	case <-ctx.Done():
		sp.cancel(parked)
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
func (sp *SafePoint) cancel(parked chan struct{}) {
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

// CheckpointTask stops the task at its safe point (within timeout), saves
// the dirty pages of its segments (atomically with a BatchStore), and lets
// it go on.
func CheckpointTask(ctx context.Context, sp *SafePoint, timeout time.Duration, store PageStore, segs ...*Segment) (TaskCheckpoint, error) {
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
