package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/cluster"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/node/control"
	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// The group (package cluster) on a node: when DIR/pair.json names a
// witness and consensus addresses, the node runs a raft member of the
// group (the two nodes and the witness vote) and a lease, and its Stable
// asks them (pair.Leases): a bank that lost its backup commits alone
// under the lease, a partner's bank is taken over once the group gives
// it. When the lease expires (this node lost the majority), the stable
// tasks of every bank that can no longer commit are stopped, before any
// other node may take those banks over; they resume from their
// checkpoints when the lease comes back and the bank is still held here.

// nodeGroup is the node's member of the group and its lease.
type nodeGroup struct {
	member  *cluster.Raft
	lease   *cluster.Lease
	done    chan struct{} // closed when the lease's renewals have stopped
	running bool          // run was called (by Run's goroutine, before stop)
	// silentAfter: a partner silent this long, while the lease is lost,
	// makes the node stop its stable tasks (leasestop.go).
	silentAfter time.Duration
}

// raftDir is where a member keeps its raft log, stable store and snapshots.
func raftDir(dir, name string) string { return filepath.Join(dir, name+".raft") }

// newGroup starts the node's raft member and makes its lease (not yet
// renewed: runGroup starts it); nil when the pair runs no group.
func (rt *nodeRuntime) newGroup(dir string, ns *setup) (*nodeGroup, error) {
	if ns.voters == nil {
		return nil, nil
	}
	m, err := startMember(dir, rt.name, ns, rt.base)
	if err != nil {
		return nil, err
	}
	l, err := cluster.NewLease(cluster.LeaseConfig{Node: rt.name, Consensus: m, Logger: rt.base, OnChange: rt.leaseChanged})
	if err != nil {
		_ = m.Close()
		return nil, err
	}
	return &nodeGroup{member: m, lease: l, done: make(chan struct{})}, nil
}

// startStable makes the node's Stable and, when the pair runs a group,
// the node's member and lease, which the Stable asks; the function it
// returns stops them in order (the lease's renewals, the Stable, the
// member), once the pair has stopped.
func (rt *nodeRuntime) startStable(ctx context.Context, dir string, ns *setup, fp failpoint.Hook) (func(), error) {
	g, err := rt.newGroup(dir, ns)
	if err != nil {
		return nil, err
	}
	rt.group, rt.peerAddrs = g, peerAddrs(ns)
	if rt.stable, err = rt.newStable(ns.partner.Name, fp); err != nil {
		if g != nil {
			g.stop()
		}
		return nil, err
	}
	if g == nil {
		return func() { _ = rt.stable.Close() }, nil
	}
	gctx, stopRenewals := context.WithCancel(ctx)
	g.run(gctx)
	g.silentAfter = silentFraction * ns.heartbeat
	go rt.watchSilence(gctx, g)
	rt.stable.ClaimOwn(gctx)
	rt.stable.Protect(gctx) // a cluster's placement (nothing for a pair)
	rt.servers.refusalGrace = refusalGraceWithLease
	return func() {
		stopRenewals()
		_ = rt.stable.Close()
		g.stop()
	}, nil
}

// startMember listens on the member's consensus address and starts it.
func startMember(dir, name string, ns *setup, log *zap.Logger) (*cluster.Raft, error) {
	var addr string
	for _, p := range ns.voters {
		if p.Name == name {
			addr = p.Addr
		}
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("consensus address %s: %w", addr, err)
	}
	m, err := cluster.NewRaft(cluster.RaftConfig{Name: name, Listener: lis, Dir: raftDir(dir, name), Peers: ns.voters,
		Secret: ns.secret, Logger: log})
	if err != nil {
		_ = lis.Close()
		return nil, err
	}
	return m, nil
}

// run renews the lease until ctx ends.
func (g *nodeGroup) run(ctx context.Context) {
	g.running = true
	go func() { defer close(g.done); g.lease.Run(ctx) }()
}

// stop waits for the renewals to end (ctx ended) and stops the member.
func (g *nodeGroup) stop() {
	if g.running {
		<-g.done
	}
	_ = g.member.Close()
}

// leases returns the group as the Stable asks it (nil without a group).
func (g *nodeGroup) leases() pair.Leases {
	if g == nil {
		return nil
	}
	return groupLeases{g.lease}
}

// status is the node's view of the group.
func (g *nodeGroup) status() *control.GroupStatus {
	if g == nil {
		return nil
	}
	st := g.lease.State()
	st.Recent = nil // the group's memory of answered proposals: not for operators
	return &control.GroupStatus{Leader: g.member.Leader(), Lease: g.lease.Status(), State: st}
}

// leaseChanged stops the stable tasks of the banks that can no longer
// commit when the lease expires, and resumes them when it comes back.
// While the partner is silent too (leasestop.go) it stops those of every
// bank this node is primary of: a partition that isolates this node
// leaves its link up, silent, until the failure detector's timeout, so its
// banks still look mirrored, and the majority may take them over soon
// after its own detector fires.
func (rt *nodeRuntime) leaseChanged(held bool) {
	if rt.stable == nil {
		return
	}
	rt.leaseMu.Lock()
	defer rt.leaseMu.Unlock()
	if rt.paused == nil {
		rt.paused = map[string]*stm.Bank{}
	}
	silent := rt.group.partnerSilent(rt.faults)
	for _, bs := range rt.stable.Status().Banks {
		b := rt.stable.Bank(bs.Name)
		switch {
		case bs.Role == pair.RoleBackup || b == nil:
		case !held && rt.paused[bs.Name] != b && (bs.CommitsRefused || silent):
			// Abandon cancels the tasks at once and returns when they have
			// ended (a commit in flight ends when the link does).
			rt.log.Warn(msgLeaseStopsTasks, zap.String("bank", bs.Name))
			n := rt.tasks.Abandon(b)
			if n > 0 { // resumed from their checkpoints when the lease is back
				rt.paused[bs.Name] = b
			}
			rt.log.Info("stable tasks stopped", zap.String("bank", bs.Name), zap.Int("tasks", n))
		case held && rt.paused[bs.Name] == b && !bs.CommitsRefused:
			delete(rt.paused, bs.Name)
			rt.tasks.Resume(rt.ctx, task.Bank{Name: bs.Name, STM: b})
			rt.log.Info("lease back: stable tasks resumed from their checkpoints", zap.String("bank", bs.Name))
		}
	}
	for name, b := range rt.paused {
		if rt.stable.Bank(name) != b { // superseded or closed: nothing to resume here
			delete(rt.paused, name)
		}
	}
	rt.servers.poke()
}

// msgLeaseStopsTasks is logged, with the bank, when a lost lease stops
// the bank's stable tasks (the soak checks it comes before a takeover).
const msgLeaseStopsTasks = "lease expired: stopping the stable tasks of a bank we are primary of"

// groupLeases is a cluster.Lease as a pair.Leases.
type groupLeases struct{ l *cluster.Lease }

var _ pair.Leases = groupLeases{}

// pairErr maps the group's final refusals to the pair's sentinels.
func pairErr(err error) error {
	switch {
	case errors.Is(err, cluster.ErrNotBackup):
		return fmt.Errorf("%w: %w", pair.ErrNotBackup, err)
	case errors.Is(err, cluster.ErrRefused):
		return fmt.Errorf("%w: %w", pair.ErrRefused, err)
	}
	return err
}

func (g groupLeases) Claim(ctx context.Context, bank string) error {
	_, err := g.l.Claim(ctx, bank)
	return pairErr(err)
}

func (g groupLeases) SetBackup(ctx context.Context, bank, backup string) error {
	return pairErr(g.l.SetBackup(ctx, bank, backup))
}

func (g groupLeases) DropBackup(ctx context.Context, bank string) error {
	return pairErr(g.l.DropBackup(ctx, bank))
}

func (g groupLeases) TakeOver(ctx context.Context, bank string) error {
	_, err := g.l.TakeOver(ctx, bank)
	return pairErr(err)
}

func (g groupLeases) Alone(bank string) error { return g.l.Alone(bank) }

// RunWitness runs the witness of the pair in dir until ctx ends: a voter
// of the group that holds no bank (DIR/pair.json's witness), so that
// either node with it is a majority.
func RunWitness(ctx context.Context, dir string, log *zap.Logger) error {
	return RunWitnessNamed(ctx, dir, "", log)
}
