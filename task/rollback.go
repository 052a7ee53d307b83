package task

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/servers"
)

// Abort means rollback (paper §4.1): when a recovery-unit task's RU
// aborts — a call or a checkpoint fails with servers.ErrAborted because a
// unit it depended on lost its RU, or its bank's driver changed under
// calls it made — the system, not the program, puts the task back: its
// segments are restored in place to its last committed checkpoint (views
// into them stay valid) and the program is re-entered from the top, as
// after a takeover. The abort reaches the runtime as the program's error
// (a program passes on the errors of Poll, Checkpoint and its calls) or,
// from Client, by unwinding the program's stack.

// rollbackSignal unwinds the program's stack from Client when the task's
// RU aborted; enter recovers it as err.
type rollbackSignal struct{ err error }

// enterRollingBack enters the program, and again from its last
// checkpoint each time the task's RU aborted, until it ends otherwise.
func (t *Task) enterRollingBack(ctx context.Context, entry func(ctx context.Context, t *Task) error) error {
	err := t.enter(ctx, entry)
	for t.unit != nil && errors.Is(err, servers.ErrAborted) && ctx.Err() == nil {
		if rerr := t.rollback(ctx, err); rerr != nil {
			return fmt.Errorf("task %s: roll back after %v: %w", t.cfg.Name, err, rerr)
		}
		err = t.enter(ctx, entry)
	}
	return err
}

// rollback restores the task's segments to its last committed checkpoint
// after cause, an abort of its RU.
func (t *Task) rollback(ctx context.Context, cause error) error {
	t.drain()
	t.carry = nil // pages of the aborted RU: gone with it
	if err := t.unit.restore(ctx); err != nil {
		return err
	}
	t.done, t.total, t.nextWork = 0, 0, 0
	t.updateStats(func(st *Stats) { st.Rollbacks++; st.Restored = true })
	t.scheduleNext(t.cfg.Clock.Now())
	t.log.Warn("task's recovery unit aborted: segments restored to the last checkpoint, program re-entered",
		zap.Error(cause), zap.Int("rollbacks", t.Stats().Rollbacks))
	return nil
}

// addUnitSegment makes s a segment of a recovery-unit task, restored
// from its unit when a checkpoint of it exists.
func (t *Task) addUnitSegment(ctx context.Context, s *rvm.Segment) (*rvm.Segment, error) {
	if err := t.settle(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	restored, err := t.unit.add(ctx, s)
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	if restored {
		t.updateStats(func(st *Stats) { st.Restored = true })
		t.log.Info("segment restored from its last checkpoint", zap.String("segment", s.Name()))
	}
	t.segs = append(t.segs, s)
	return s, nil
}

// Client is the task's application client, its recovery unit: a call
// through it to a reliable server records the task's dependency on that
// server's RU (§4.1), and the call's effects commit with the task's next
// checkpoint, in one atomic action. For example:
//
//	_, err := kv.Put.At("n1/kv").Call(ctx, t.Client(), req)
//
// It is nil for a task that is not a recovery unit (Config.Unit) and
// while its bank runs no driver (no backup). It waits for the checkpoint
// in flight; if the task's RU aborted, Client does not return: the task
// is rolled back and re-entered. For the task's goroutine only.
func (t *Task) Client() *servers.Client {
	if t.unit == nil {
		return nil
	}
	err := t.settle(context.Background())
	if err == nil {
		err = t.unit.attach(context.Background())
	}
	switch {
	case errors.Is(err, servers.ErrAborted):
		panic(rollbackSignal{err: err})
	case err != nil:
		t.log.Warn("checkpoint failed before a call", zap.Error(err))
	}
	if t.unit.client != nil {
		t.unit.used = true
	}
	return t.unit.client
}
