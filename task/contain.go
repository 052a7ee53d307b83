package task

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"go.uber.org/zap"
)

// ErrPanicked is the error of a task whose program panicked: the task
// fails (recorded as failed with the panic value) unless its program's
// Restart policy re-enters it, and the node and its other tasks keep
// running. Its segments keep the last checkpoint.
var ErrPanicked = errors.New("task: program panicked")

// enter runs entry on the task's goroutine, turning a panic into an
// ErrPanicked error carrying the value; the stack goes to the log.
func (t *Task) enter(ctx context.Context, entry func(ctx context.Context, t *Task) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if rb, ok := v.(rollbackSignal); ok { // Client found the task's RU aborted
				err = rb.err
				return
			}
			t.log.Error("stable task panicked: this run of it ends, the node runs on",
				zap.Any("panic", v), zap.ByteString("stack", debug.Stack()))
			err = fmt.Errorf("%w: %v", ErrPanicked, v)
		}
	}()
	return entry(ctx, t)
}
