package task

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/stm"
)

// Restart is a program's restart policy (ServerConfig.Restart): how often
// the task server re-enters a task whose program panicked. Only a panic
// restarts a task: a program that returns an error has failed. The zero
// Restart restarts nothing: a panic fails the task.
type Restart struct {
	// Max is how many times a task of the program is restarted after a
	// panic over its whole life (the count is kept in its record, so a
	// takeover does not renew it); the next panic fails the task.
	Max int
	// Backoff is how long the server waits before each restart.
	Backoff time.Duration
}

// supervise runs r's program until it ends and records the end: after a
// panic the program is re-entered from the task's last checkpoint, as
// after a takeover (its segments are restored), while its restart policy
// allows.
func (s *Server) supervise(ctx context.Context, r *running, cfg Config, prog Program) {
	for {
		result, st, err := s.runOnce(ctx, r, cfg, prog)
		if errors.Is(err, ErrPanicked) && s.mayRestart(r) {
			if err = s.restartAfterPanic(ctx, r, err); err == nil {
				continue
			}
		}
		s.finish(r, result, st, err)
		return
	}
}

// runOnce enters r's program once, as the task r.
func (s *Server) runOnce(ctx context.Context, r *running, cfg Config, prog Program) (string, Stats, error) {
	var result string
	if cfg.Unit != nil { // the end is recorded with the last checkpoint
		unit := *cfg.Unit
		id := r.rec.ID
		unit.Final = func(tx *stm.Tx) error { return markDone(tx, id, &result) }
		cfg.Unit = &unit
	}
	st, err := Run(ctx, cfg, func(ctx context.Context, t *Task) error {
		s.mu.Lock()
		r.task = t
		s.mu.Unlock()
		var err error
		result, err = prog(ctx, t, r.rec.Args)
		return err
	})
	return result, st, err
}

// markDone records task id as done with *result in tx: the transaction
// that precommits the task's last checkpoint, so its end commits with it.
func markDone(tx *stm.Tx, id uint64, result *string) error {
	recs, err := taskTable.Get(tx)
	if err != nil {
		return err
	}
	for i := range recs {
		if recs[i].ID == id {
			recs[i].State, recs[i].Result, recs[i].Error = StateDone, *result, ""
		}
	}
	return taskTable.Set(tx, recs)
}

// mayRestart reports whether r's restart policy allows one more restart.
// Only r's own goroutine changes r.rec, so it reads it without the lock.
func (s *Server) mayRestart(r *running) bool {
	return r.rec.PanicRestarts < s.cfg.Restart[r.rec.Program].Max
}

// restartAfterPanic counts a restart of r after the panic perr — in its
// record in STM first, so that a takeover from now on resumes it with the
// count — and waits the policy's backoff. A nil error: re-enter the
// program. Otherwise the task is not restarted, and the error (its bank
// was lost, or it was stopped) is what finish gets.
func (s *Server) restartAfterPanic(ctx context.Context, r *running, perr error) error {
	s.mu.Lock()
	r.rec.Restarts++
	r.rec.PanicRestarts++
	r.rec.Since = time.Now()
	r.task = nil // a new run: its stats start again (the checkpoint log tells runs apart by Since)
	rec := r.rec
	s.mu.Unlock()
	policy := s.cfg.Restart[rec.Program]
	s.log.Warn("restarting stable task from its last checkpoint after a panic", zap.String("bank", r.bank),
		zap.Uint64("task", rec.ID), zap.String("program", rec.Program), zap.NamedError("panic", perr),
		zap.Int("restart", rec.PanicRestarts), zap.Int("max", policy.Max), zap.Duration("backoff", policy.Backoff))
	switch err := recordRestarts(ctx, r.store, rec); {
	case err == nil:
	case superseded(err) || ctx.Err() != nil:
		return err
	default: // no backup: the task runs on unprotected, as its checkpoints do
		s.log.Warn("could not record the task's restart in STM", zap.Uint64("task", rec.ID), zap.Error(err))
	}
	return sleep(ctx, policy.Backoff)
}

// recordRestarts records rec's restart counts in its bank's task table.
func recordRestarts(ctx context.Context, bank *stm.Bank, rec Record) error {
	return bank.UpdateRetry(ctx, func(tx *stm.Tx) error {
		recs, _ := taskTable.Get(tx)
		for i := range recs {
			if recs[i].ID == rec.ID {
				recs[i].Restarts, recs[i].PanicRestarts = rec.Restarts, rec.PanicRestarts
			}
		}
		return taskTable.Set(tx, recs)
	})
}

// sleep waits d, or until ctx ends (its error).
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
