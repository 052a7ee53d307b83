package publish

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel"
)

// restore starts an incarnation: a new Machine with the state of the last
// checkpoint, fed every message logged since, in receive order (§3.4
// step 3). What it sends again is discarded by number (send).
func (p *Published) restore(ctx context.Context) (Machine, error) {
	rec, err := p.st.load(ctx)
	if err != nil {
		return nil, err
	}
	c, entries := rec.ckpt, rec.entries
	mach := p.spec.New()
	if err := mach.Restore(c.State); err != nil {
		return nil, err
	}
	p.sentNow, p.handled = c.Sent, c.Index
	p.rec.logSize, p.ckptSize = 0, len(c.State)
	p.mu.Lock()
	p.stats.Incarnations++
	p.stats.Handled = p.handled
	p.mu.Unlock()
	for i := range entries {
		p.crashAt("publish.replay")
		if err := p.handle(ctx, mach, &entries[i], nil); err != nil {
			return nil, err
		}
		p.rec.logSize += entries[i].size()
	}
	p.mu.Lock()
	p.stats.Replayed += uint64(len(entries))
	p.stats.LogBytes, p.stats.CkptBytes = p.rec.logSize, p.ckptSize
	p.mu.Unlock()
	return mach, nil
}

// serve receives live messages until ctx ends: each is logged by the
// recorder before Receive returns it, handled, and followed by a
// checkpoint when the log has outgrown the last one (§5's rule).
func (p *Published) serve(ctx context.Context, mach Machine) error {
	for {
		m, err := p.task.Receive(ctx, p.port)
		if errors.Is(err, kernel.ErrNotRecorded) {
			p.refused(ctx, err) // the kernel holds the message and offers it again
			continue
		}
		p.refusing = false
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		p.rec.lastMsg = nil // delivered: no longer held by the kernel
		if p.rec.dup {      // logged before a crash, and already replayed
			continue
		}
		e := p.rec.last
		if err := p.handle(ctx, mach, &e, m); err != nil {
			return err
		}
		if err := p.maybeCheckpoint(ctx, mach); err != nil {
			return err
		}
	}
}

// refused counts a message the recorder could not log (its bank refuses
// commits: it has no backup) and waits Config.Backoff before the task
// receives again. The message stays held by the kernel, undelivered, and
// the incarnation keeps its state: nothing was handled, nothing is
// replayed.
func (p *Published) refused(ctx context.Context, err error) {
	p.mu.Lock()
	p.stats.Refused++
	p.mu.Unlock()
	if !p.refusing {
		p.refusing = true
		p.m.log.Warn("published task cannot record its next message; it waits",
			zap.String("task", p.spec.Name), zap.Error(err))
	}
	p.pause(ctx, p.m.cfg.Backoff)
}

// handle gives one message to the machine: m as received, or, in a
// replay (m nil), as rebuilt from its log entry e.
func (p *Published) handle(ctx context.Context, mach Machine, e *Entry, m *kernel.Message) error {
	env := &Env{ctx: ctx, p: p, e: e, live: m != nil}
	if m == nil {
		m = e.message()
	}
	if err := mach.Handle(env, m); err != nil {
		return err
	}
	p.handled = e.Index + 1
	p.mu.Lock()
	p.stats.Handled = p.handled
	p.stats.LogBytes, p.stats.CkptBytes = p.rec.logSize, p.ckptSize
	p.mu.Unlock()
	return nil
}

// maybeCheckpoint checkpoints the machine when the task's rule says its
// log has outgrown its last checkpoint.
func (p *Published) maybeCheckpoint(ctx context.Context, mach Machine) error {
	if !p.m.cfg.Rule.due(p.rec.logSize, p.ckptSize) {
		return nil
	}
	return p.checkpoint(ctx, mach)
}

// checkpoint stores the machine's state; the log it covers is discarded
// in the same transaction (§3.2).
func (p *Published) checkpoint(ctx context.Context, mach Machine) error {
	state, err := mach.Snapshot()
	if err != nil {
		return err
	}
	p.crashAt("publish.checkpoint.before")
	if err := p.st.checkpoint(ctx, checkpoint{Index: p.handled, Sent: p.sentNow, State: state}); err != nil {
		return err
	}
	p.ckptSize, p.rec.logSize = len(state), 0
	p.mu.Lock()
	p.stats.Checkpoints++
	p.stats.LogBytes, p.stats.CkptBytes = 0, p.ckptSize
	p.mu.Unlock()
	p.crashAt("publish.checkpoint.after")
	return nil
}
