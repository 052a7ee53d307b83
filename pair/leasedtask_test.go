package pair

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/cluster"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// startLeasedTaskMember is startTaskMember with the group's lease, wired
// as package node wires it: when the lease expires, the tasks of every
// bank that can no longer commit are stopped.
func startLeasedTaskMember(t *testing.T, net testNet, g *cluster.MemGroup, name string, prog task.Program) *taskMember {
	ctx, stop := context.WithCancel(context.Background())
	srv := task.NewServer(ctx, task.ServerConfig{Node: name, Programs: map[string]task.Program{"sum": prog},
		Policy: task.Policy{Every: 20 * time.Millisecond}, Logger: zaptest.NewLogger(t).Named(name + "-tasks")})
	var (
		mu sync.Mutex
		st *Stable
	)
	onChange := func(held bool) {
		mu.Lock()
		defer mu.Unlock()
		if held || st == nil {
			return
		}
		for _, bs := range st.Status().Banks {
			if b := st.Bank(bs.Name); b != nil && bs.Role != RoleBackup && bs.CommitsRefused {
				srv.Abandon(b)
			}
		}
	}
	l, err := cluster.NewLease(cluster.LeaseConfig{Node: name, Consensus: g.Member(name), OnChange: onChange,
		Logger: zaptest.NewLogger(t).Named(name + ".lease")})
	require.NoError(t, err)
	m := startMemberCfg(t, net, StableConfig{Name: name, Leases: groupLeases{l},
		OnTakeover: func(ctx context.Context, bank string, b *stm.Bank) { srv.Resume(ctx, task.Bank{Name: bank, STM: b}) },
		OnDrop:     func(_ context.Context, _ string, b *stm.Bank) { srv.Abandon(b) }})
	mu.Lock()
	st = m.st
	mu.Unlock()
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	m.st.ClaimOwn(ctx)
	stopNode := m.cancel
	m.cancel = func() { stopNode(); stop(); <-done }
	return &taskMember{member: m, srv: srv, stop: stop}
}

// Reference: doc.go, "Leases" — a partition isolates alpha, whose bank
// holds a running task: alpha's lease expires and its task is stopped
// before beta may take the bank over; beta resumes the task from its last
// checkpoint and runs it to completion, alone under its lease, while the
// partition lasts; after healing the task is done once, on beta, and
// alpha runs no copy of it.
func TestPartitionRunsTheTaskToCompletionOnTheMajorityOnly(t *testing.T) {
	release := make(chan struct{})
	net, g := newMemNet(), cluster.NewMemGroup()
	a := startLeasedTaskMember(t, net, g, "alpha", gatedSum(release, 0))
	b := startLeasedTaskMember(t, net, g, "beta", gatedSum(release, 0))
	t.Cleanup(a.crash)
	t.Cleanup(b.crash)
	waitFor(t, a.member, "protected", protects([]string{"alpha"}, []string{"beta"}))
	waitFor(t, b.member, "protected", protects([]string{"beta"}, []string{"alpha"}))
	require.Eventually(t, func() bool { return g.Member("beta").State().Banks["alpha"].Backup == "beta" }, testWait, testTick)
	_, err := a.srv.Start(context.Background(), task.Bank{Name: "alpha", STM: a.st.Own()}, "sum", nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		r := tasksOf(a.srv, "alpha")
		return len(r) == 1 && r[0].Stats.Checkpoints >= 2
	}, testWait, time.Millisecond)

	g.Cut("alpha")
	net.setRefuse(true)
	net.cutAll()
	// Poll both sides together: alpha's copy must be gone no later than
	// the moment beta holds the bank.
	var stoppedFirst bool
	require.Eventually(t, func() bool {
		stopped := len(tasksOf(a.srv, "alpha")) == 0
		if b.st.Status().Takeovers == 1 {
			stoppedFirst = stopped
			return true
		}
		return false
	}, testWait, time.Millisecond)
	require.True(t, stoppedFirst, "beta took alpha's bank over while alpha's task still ran")
	close(release)
	requireSumDone(t, b.srv)
	require.Empty(t, tasksOf(a.srv, "alpha"), "the minority never ran the task again")

	g.Heal("alpha")
	net.setRefuse(false)
	waitFor(t, b.member, "both banks protected by alpha again", protects([]string{"alpha", "beta"}, nil))
	require.Empty(t, tasksOf(a.srv, "alpha"))
	done := tasksOf(b.srv, "alpha")
	require.Len(t, done, 1)
	require.Equal(t, task.StateDone, done[0].State)
}
