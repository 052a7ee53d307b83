package task

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"
)

// ErrStopped is the error a task stopped by Stop ends with (Stop returns
// ErrNotRunning for a task that has ended, ErrNoTask for one not listed).
var ErrStopped = errors.New("task: stopped by the operator")

// Stop stops the running task id of bank and records its end in its bank
// as failed with ErrStopped (one commit, refused like any when the bank has
// no backup): it is not restarted, here or after a takeover. What it
// computed since its last checkpoint is lost. It returns the task's
// record once the task has stopped, or when ctx ends.
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
	if err := recordEnd(ctx, r.store, rec); err != nil {
		return Record{}, fmt.Errorf("stop task %s: record its end: %w", key, err)
	}
	s.mu.Lock()
	r.rec = rec
	s.mu.Unlock()
	s.log.Info("stable task stopped by the operator", zap.String("bank", bank), zap.Uint64("task", id))
	rec.Bank, rec.Node = bank, s.cfg.Node
	return rec, nil
}
