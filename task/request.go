package task

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Checkpoints on request (ftmctl ckpt now): an operator asks the task
// server for a checkpoint of one running task; the task takes it at its
// next safe point (Poll), as if its policy had said one was due. A task is
// only ever checkpointed on its own goroutine, so the request is a flag the
// task reads. The forced checkpoint's commit runs in the background like
// any other (flight.go); the safe points after it account for it as soon
// as it is done, so it shows in Stats at once rather than at the next
// policy checkpoint. While no request is pending a safe point pays one
// atomic load.

var (
	forcedPending atomic.Int64 // entries in forced, over all tasks
	forced        sync.Map     // *Task → *forcedState
)

type forcedState struct {
	launched bool // the checkpoint was taken; its commit is to be accounted for
}

// ErrNotRunning is returned by RequestCheckpoint for a task that is not
// running on this node.
var ErrNotRunning = errors.New("task: not running here")

// RequestCheckpoint makes the running task id of bank take a checkpoint at
// its next safe point. It returns at once; the checkpoint shows in the
// task's Stats when taken. A request for a task that ends first is dropped.
func (s *Server) RequestCheckpoint(bank string, id uint64) error {
	key := fmt.Sprintf("%s/%d", bank, id)
	s.mu.Lock()
	r := s.tasks[key]
	var t *Task
	if r != nil {
		t = r.task
	}
	s.mu.Unlock()
	if t == nil {
		return fmt.Errorf("%w: task %s", ErrNotRunning, key)
	}
	if _, dup := forced.LoadOrStore(t, &forcedState{}); !dup {
		forcedPending.Add(1)
	}
	return nil
}

// requested reports whether a requested checkpoint is due now, and
// accounts for the commit of one taken at an earlier safe point once it is
// done. Called by due, on the task's goroutine.
func (t *Task) requested() bool {
	if forcedPending.Load() == 0 {
		return false
	}
	v, ok := forced.Load(t)
	if !ok {
		return false
	}
	fs := v.(*forcedState)
	if !fs.launched {
		fs.launched = true
		return true
	}
	if f := t.inflight; f != nil {
		select {
		case <-f.done:
			if f.err != nil && !isNoBackup(f.err) {
				break // a failed commit is left to Poll, which reports it
			}
			_ = t.settle(context.Background()) // done: does not block, cannot fail
		default:
			return false // still committing
		}
	}
	forced.Delete(t)
	forcedPending.Add(-1)
	return false
}
