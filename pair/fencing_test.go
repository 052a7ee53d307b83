package pair

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// gatedSum adds 1, 2, 3, ... in a segment, one step per millisecond, until
// release is closed and at least min steps are done; it returns the sum.
func gatedSum(release <-chan struct{}, min int64) task.Program {
	return func(ctx context.Context, t *task.Task, _ []string) (string, error) {
		seg, err := t.Segment(ctx, "sum", 64)
		if err != nil {
			return "", err
		}
		st, err := rvm.View[struct{ I, Sum int64 }](seg, 0)
		if err != nil {
			return "", err
		}
		for {
			select {
			case <-release:
				if st.I >= min {
					return fmt.Sprint(st.Sum, "/", st.I), nil
				}
			default:
			}
			st.I++
			st.Sum += st.I
			t.Progress(st.I, 1<<40)
			if err := t.Poll(ctx); err != nil {
				return "", err
			}
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
	}
}

// taskMember is a pair member with a task server wired as package node
// wires it: a takeover resumes the partner's tasks, a superseded bank's
// tasks are abandoned.
type taskMember struct {
	*member
	srv  *task.Server
	stop context.CancelFunc
}

func startTaskMember(t *testing.T, net testNet, name string, prog task.Program) *taskMember {
	ctx, stop := context.WithCancel(context.Background())
	srv := task.NewServer(ctx, task.ServerConfig{Node: name, Programs: map[string]task.Program{"sum": prog},
		Policy: task.Policy{Every: 20 * time.Millisecond}, Logger: zaptest.NewLogger(t).Named(name + "-tasks")})
	m := startMemberCfg(t, net, StableConfig{Name: name,
		OnTakeover: func(ctx context.Context, bank string, b *stm.Bank) { srv.Resume(ctx, task.Bank{Name: bank, STM: b}) },
		OnDrop:     func(_ context.Context, _ string, b *stm.Bank) { srv.Abandon(b) }})
	return &taskMember{member: m, srv: srv, stop: stop}
}

func (m *taskMember) crash() {
	m.stop()
	m.srv.Wait()
	m.member.crash()
}

func tasksOf(s *task.Server, bank string) []task.Record {
	var out []task.Record
	for _, r := range s.List() {
		if r.Bank == bank {
			out = append(out, r)
		}
	}
	return out
}

// Reference: fencing (doc.go) and DESIGN "Failover" — a partition (link cut,
// both nodes alive) makes each side take the other's bank over and restart
// its tasks, so for a while the task runs on both sides (the stale side
// unprotected: its checkpoints are refused, stm.ErrNoBackup). On relinking
// the higher epoch wins the bank; the loser's copy of the task is stopped
// and forgotten, and the task finishes once, on the winner, from the
// winner's checkpoints.
func TestPartitionLeavesTheTaskRunningOnOneSide(t *testing.T) {
	release := make(chan struct{})
	net, a, b := startSumOnProtectedPair(t, release)
	require.Eventually(t, func() bool {
		r := tasksOf(a.srv, "alpha")
		return len(r) == 1 && r[0].Stats.Checkpoints >= 2
	}, 15*time.Second, time.Millisecond)
	stale := a.st.Own()

	net.cutAll()
	waitFor(t, a.member, "relinked: beta's bank taken over and kept", func(st StableStatus) bool {
		return st.Takeovers == 1 && protects([]string{"beta"}, []string{"alpha"})(st)
	})
	waitFor(t, b.member, "relinked: alpha's bank taken over and kept", func(st StableStatus) bool {
		return st.Takeovers == 1 && protects([]string{"alpha"}, []string{"beta"})(st)
	})
	require.Empty(t, tasksOf(a.srv, "alpha"), "the stale side's copy of the task was stopped and forgotten")
	running := tasksOf(b.srv, "alpha")
	require.Len(t, running, 1)
	require.Equal(t, 1, running[0].Restarts)
	require.Error(t, stale.Update(context.Background(), func(tx *stm.Tx) error { return tx.Put(1, []byte("x")) }),
		"the stale bank can never commit again")

	// The survivor protects the task again and finishes it: its sum is
	// consistent with its step count (no step lost or done twice).
	require.Eventually(t, func() bool {
		r := tasksOf(b.srv, "alpha")
		return len(r) == 1 && r[0].Stats.Checkpoints >= 1
	}, 15*time.Second, time.Millisecond, "checkpoints resume on the winner")
	close(release)
	requireSumDone(t, b.srv)
	require.Empty(t, tasksOf(a.srv, "alpha"))
}

// Reference: fencing (doc.go) — partitions again and again: each cut makes
// both nodes take over, each relink gives every bank to its higher epoch,
// and after each relink the task is listed on exactly one node, the
// holder of its bank. 3 rounds; 30 with FTM_SOAK=1.
func TestRepeatedPartitionsKeepOneCopyOfTheTask(t *testing.T) {
	rounds := 3
	if os.Getenv("FTM_SOAK") != "" {
		rounds = 30
	}
	release := make(chan struct{})
	net, a, b := startSumOnProtectedPair(t, release)
	for round := 1; round <= rounds; round++ {
		net.cutAll()
		holder, other := b, a // odd rounds: the partner's copy, one epoch up, wins
		if round%2 == 0 {
			holder, other = a, b
		}
		waitFor(t, holder.member, fmt.Sprintf("round %d: holds bank alpha", round), func(st StableStatus) bool {
			return st.Takeovers == round && protects([]string{"alpha"}, []string{"beta"})(st)
		})
		waitFor(t, other.member, fmt.Sprintf("round %d: backs bank alpha up", round), func(st StableStatus) bool {
			if st.Takeovers != round {
				return false
			}
			for _, bs := range st.Banks {
				if bs.Name == "alpha" {
					return bs.Role == RoleBackup && bs.Ready
				}
			}
			return false
		})
		require.Eventually(t, func() bool {
			return len(tasksOf(holder.srv, "alpha")) == 1 && len(tasksOf(other.srv, "alpha")) == 0
		}, 15*time.Second, time.Millisecond, "round %d: the task runs on the holder only", round)
	}
	close(release)
	holder := b
	if rounds%2 == 0 {
		holder = a
	}
	requireSumDone(t, holder.srv)
}

// requireSumDone waits for the "sum" task of bank alpha to end on srv and
// checks its result is consistent with its step count (no step lost or
// done twice).
func requireSumDone(t *testing.T, srv *task.Server) {
	t.Helper()
	var done task.Record
	require.Eventually(t, func() bool {
		r := tasksOf(srv, "alpha")
		if len(r) == 1 && r[0].State != task.StateRunning {
			done = r[0]
			return true
		}
		return false
	}, 15*time.Second, time.Millisecond)
	require.Equal(t, task.StateDone, done.State, done.Error)
	var sum, n int64
	_, err := fmt.Sscanf(done.Result, "%d/%d", &sum, &n)
	require.NoError(t, err)
	require.Equal(t, n*(n+1)/2, sum, "result %s", done.Result)
}

// startSumOnProtectedPair starts members alpha and beta on an in-memory
// network, waits until each protects the other's bank, and starts the
// gated "sum" task in alpha's bank. The members crash at the test's end.
func startSumOnProtectedPair(t *testing.T, release chan struct{}) (*memNet, *taskMember, *taskMember) {
	t.Helper()
	net := newMemNet()
	a := startTaskMember(t, net, "alpha", gatedSum(release, 0))
	b := startTaskMember(t, net, "beta", gatedSum(release, 0))
	t.Cleanup(a.crash)
	t.Cleanup(b.crash)
	waitFor(t, a.member, "protected", protects([]string{"alpha"}, []string{"beta"}))
	waitFor(t, b.member, "protected", protects([]string{"beta"}, []string{"alpha"}))
	_, err := a.srv.Start(context.Background(), task.Bank{Name: "alpha", STM: a.st.Own()}, "sum", nil)
	require.NoError(t, err)
	return net, a, b
}
