package node

import (
	"context"
	"time"

	"github.com/ftm-in-go/ftm/kernel/link"
)

// A node that lost its lease stops the stable tasks of the banks that
// refuse commits (group.go). A partition that isolates it leaves its banks
// mirrored in its own eyes until its failure detector fires (20 silent
// heartbeats), about when the majority's detector fires too, and the
// majority may take its banks over one lease wait (~0.5 s) later. So
// while the lease is lost and the partner has been silent for half the
// detector's timeout, the node stops the tasks of every bank it is
// primary of: a second or so before any takeover, with its commits
// already impossible (no backup answers, no lease). A lease that lapses
// under load while the partner's heartbeats still arrive stops nothing
// that can commit: the partner cannot take a bank over from a live link.

// silentFraction is the partner's silence, in heartbeat periods, that
// makes a node without its lease stop all its stable tasks: half the
// failure detector's 20.
const silentFraction = 10

// partnerSilent reports whether nothing came from the partner for
// silentAfter (false without a group).
func (g *nodeGroup) partnerSilent(f *link.Faults) bool {
	return g != nil && g.silentAfter > 0 && time.Since(f.LastRecv()) >= g.silentAfter
}

// watchSilence stops the stable tasks once per lapse of the lease during
// which the partner falls silent, and, while the lease is held, resumes
// those of a stopped bank as soon as it can commit again (the lease may
// come back before the bank is recorded alone or gets a backup), until
// ctx ends.
func (rt *nodeRuntime) watchSilence(ctx context.Context, g *nodeGroup) {
	t := time.NewTicker(max(g.silentAfter/10, 10*time.Millisecond))
	defer t.Stop()
	fired := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		quiet := !g.lease.Held() && g.partnerSilent(rt.faults)
		if quiet && !fired {
			rt.leaseChanged(false)
		}
		fired = quiet
		if g.lease.Held() && rt.anyPaused() {
			rt.leaseChanged(true)
		}
	}
}

// anyPaused reports whether a lost lease stopped some bank's tasks that
// have not been resumed yet.
func (rt *nodeRuntime) anyPaused() bool {
	rt.leaseMu.Lock()
	defer rt.leaseMu.Unlock()
	return len(rt.paused) > 0
}
