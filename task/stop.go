package task

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/stm"
)

// ErrStopped is the error a task stopped by Stop ends with (Stop returns
// ErrNotRunning for a task that has ended, ErrNoTask for one not listed).
var ErrStopped = errors.New("task: stopped by the operator")

// Stop stops the running task id of bank for good: it first records the
// task failed with ErrStopped in its bank (one commit: refused like any
// when the bank has no backup, and then nothing is stopped), so that it is
// not restarted, here or after a takeover; then it cancels the task and
// waits for it to end (or for ctx). What the task computed since its last
// checkpoint is lost. It returns the task's record.
func (s *Server) Stop(ctx context.Context, bank string, id uint64) (Record, error) {
	key := taskKey(bank, id)
	s.mu.Lock()
	r := s.tasks[key]
	var state string
	if r != nil {
		state = r.rec.State
	}
	s.mu.Unlock()
	switch {
	case r == nil:
		return Record{}, fmt.Errorf("stop task %s: %w", key, ErrNoTask)
	case state != StateRunning:
		return Record{}, fmt.Errorf("stop task %s: it has ended (%s): %w", key, state, ErrNotRunning)
	}
	if err := markStopped(ctx, r.store, id); err != nil {
		return Record{}, fmt.Errorf("stop task %s: %w", key, err)
	}
	r.cancel()
	select {
	case <-r.done:
	case <-ctx.Done():
		return Record{}, fmt.Errorf("stop task %s: %w", key, ctx.Err())
	}
	s.mu.Lock()
	rec := r.rec
	s.mu.Unlock()
	rec.State, rec.Result, rec.Error = StateFailed, "", ErrStopped.Error()
	if err := recordEnd(ctx, r.store, rec); err != nil { // its end as a stop, and its segments dropped
		s.log.Warn("stopped task: its segments stay in its bank", zap.String("task", key), zap.Error(err))
	}
	s.mu.Lock()
	r.rec = rec
	s.mu.Unlock()
	s.log.Info("stable task stopped by the operator", zap.String("bank", bank), zap.Uint64("task", id))
	rec.Bank, rec.Node = bank, s.cfg.Node
	return rec, nil
}

// markStopped records task id of bank failed with ErrStopped, leaving its
// segments (it still runs and may be checkpointing into them).
func markStopped(ctx context.Context, bank *stm.Bank, id uint64) error {
	return bank.UpdateRetry(ctx, func(tx *stm.Tx) error {
		recs, _ := taskTable.Get(tx)
		for i := range recs {
			if recs[i].ID == id {
				recs[i].State, recs[i].Result, recs[i].Error = StateFailed, "", ErrStopped.Error()
			}
		}
		return taskTable.Set(tx, recs)
	})
}
