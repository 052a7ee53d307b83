package task

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/pager"
	"github.com/ftm-in-go/ftm/stm"
)

// DefaultInDoubtWait is how long a restore waits, by default, for a
// checkpoint group of the task still in doubt (UnitConfig.InDoubtWait).
const DefaultInDoubtWait = 2 * time.Minute

// inDoubtRetry is how often a restore waiting for a group in doubt reads
// again (and looks for the bank's driver); inDoubtReport how often it says
// it still waits.
const (
	inDoubtRetry  = 20 * time.Millisecond
	inDoubtReport = 10 * time.Second
)

// ErrInDoubt: a segment could not be restored because a checkpoint group
// of the task stayed in doubt longer than UnitConfig.InDoubtWait.
var ErrInDoubt = errors.New("task: a checkpoint group of the task stayed in doubt")

// A checkpoint cut short by a crash may leave its atomic action's STM
// group in doubt in the bank taken over: its transactions hold their
// write locks (the segment units' states and pages among them) until a
// driver restarted on the bank decides the group as the units' records
// say, which it can do only once the bank has a backup again. A restore
// that reads the bank directly meanwhile conflicts with that group
// (stm.ErrConflict at validation). It waits instead: it reads again
// every inDoubtRetry and, as soon as the bank has a driver, attaches the
// task's units to it and starts those of the group's segments not mapped
// yet (their restart decides the group); after UnitConfig.InDoubtWait it
// gives up with ErrInDoubt.

// loadCommitted reads segment seg's last committed pages from the bank,
// waiting for a checkpoint group in doubt to be decided.
func (u *unitRT) loadCommitted(ctx context.Context, seg string) (map[int][]byte, error) {
	w := inDoubtWait{u: u, seg: seg}
	for {
		pages, err := u.loadOnce(ctx, seg)
		if !errors.Is(err, stm.ErrConflict) {
			w.over(err)
			return pages, err
		}
		if err := w.wait(ctx, err); err != nil {
			return nil, err
		}
		if u.pager == nil { // a driver may run the bank's units now: their restart decides the group
			_ = u.attach(ctx) // an abort it reports is the rollback's to handle: the program has not run since
		}
		u.serveGroupsInDoubt(ctx)
	}
}

// serveGroupsInDoubt starts, on the current driver, the pager servers of
// the task's segments that a group in doubt in the bank names and that
// the program has not mapped yet: the group is decided only when every
// unit of its atomic action runs again (the task's client, restarted in
// the middle of that action, waits for them all), and the program maps
// its segments one by one, each after the one being restored.
func (u *unitRT) serveGroupsInDoubt(ctx context.Context) {
	if u.driver == nil {
		return
	}
	prefix := pager.UnitName(u.cfg.Name, "")
	seen := map[stm.GroupID]bool{}
	for _, tx := range u.cfg.STM.Transactions() {
		if tx.Phase != stm.Phase2 || tx.Group == 0 || seen[tx.Group] {
			continue
		}
		seen[tx.Group] = true
		names, err := servers.GroupServers(u.cfg.STM, tx.Group)
		if err != nil {
			u.log.Warn("cannot read which units a group in doubt holds", zap.Error(err))
			continue
		}
		for _, name := range names {
			seg, ok := strings.CutPrefix(name, prefix)
			if !ok || u.servers[seg] != nil {
				continue
			}
			if _, err := u.runServer(ctx, seg, u.pageSize()); err != nil {
				u.log.Warn("cannot start a segment's unit named by a group in doubt", zap.String("segment", seg), zap.Error(err))
				continue
			}
			u.log.Info("segment's unit started for a group in doubt, before the program maps it", zap.String("segment", seg))
		}
	}
}

// pageSize is the page size of the task's segments.
func (u *unitRT) pageSize() int {
	if len(u.segs) > 0 {
		return u.segs[0].PageSize()
	}
	return rvm.DefaultPageSize
}

// loadOnce reads seg's last committed pages once, from the bank, also
// while the task's units run: a load call through the task's client would
// wait until its RU runs, and a client restarted in the middle of an
// atomic action (the driver's restart after a crash) finishes it only
// once the units of all the task's segments run, which the task starts
// one by one as the program maps them, after each one's restore.
func (u *unitRT) loadOnce(ctx context.Context, seg string) (map[int][]byte, error) {
	if u.pager == nil {
		u.stale = true
	}
	return pager.ReadCommitted(ctx, u.cfg.STM, u.cfg.Name, seg)
}

// inDoubtWait is one restore's wait for a group in doubt: bounded, and
// logged when it starts, while it lasts and when it ends.
type inDoubtWait struct {
	u         *unitRT
	seg       string
	since     time.Time // zero until the first conflict
	lastNoted time.Time
}

// wait notes the conflict cause and waits inDoubtRetry, or fails with
// ErrInDoubt once the wait has lasted the limit.
func (w *inDoubtWait) wait(ctx context.Context, cause error) error {
	now := time.Now()
	limit := w.u.inDoubtWait()
	switch {
	case w.since.IsZero():
		w.since, w.lastNoted = now, now
		w.u.log.Warn("restore waits: a checkpoint group of the task is in doubt in its bank (decided once the bank has a backup and a driver)",
			zap.String("segment", w.seg), zap.Duration("limit", limit), zap.Error(cause))
	case now.Sub(w.since) >= limit:
		w.u.log.Error("restore gives up: a checkpoint group of the task is still in doubt",
			zap.String("segment", w.seg), zap.Duration("waited", now.Sub(w.since)), zap.Error(cause))
		return fmt.Errorf("task %s: restore segment %s: %w after %v: %w", w.u.cfg.Name, w.seg, ErrInDoubt, limit, cause)
	case now.Sub(w.lastNoted) >= inDoubtReport:
		w.lastNoted = now
		w.u.log.Info("restore still waits for a checkpoint group in doubt",
			zap.String("segment", w.seg), zap.Duration("waited", now.Sub(w.since)), zap.Bool("driver", w.u.driver != nil))
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("task %s: restore segment %s, waiting for a group in doubt: %w", w.u.cfg.Name, w.seg, ctx.Err())
	case <-time.After(inDoubtRetry):
		return nil
	}
}

// over logs the end of a wait that began.
func (w *inDoubtWait) over(err error) {
	if w.since.IsZero() {
		return
	}
	w.u.log.Info("restore goes on: the checkpoint group in doubt was decided",
		zap.String("segment", w.seg), zap.Duration("waited", time.Since(w.since)),
		zap.Bool("through_units", w.u.pager != nil), zap.NamedError("read", err))
}

func (u *unitRT) inDoubtWait() time.Duration {
	if u.cfg.InDoubtWait > 0 {
		return u.cfg.InDoubtWait
	}
	return DefaultInDoubtWait
}

// forget undoes add(s) after s could not be restored, so that the program
// may map a segment of that name again: s leaves the task's segments, and
// the units, which were told of it, stop (the next attach starts them
// without it; calls the program made on them count as aborted there).
func (u *unitRT) forget(s *rvm.Segment) {
	u.segs = slices.DeleteFunc(u.segs, func(x *rvm.Segment) bool { return x == s })
	if u.driver == nil {
		return
	}
	u.orphaned = u.orphaned || u.used
	u.detach()
}
