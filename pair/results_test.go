package pair

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// endRecorded reports whether bank b records the end of every task in it
// (the task server's table, named "table" in the "task" namespace).
func endRecorded(b *stm.Bank) bool {
	var recs []task.Record
	err := b.View(context.Background(), func(tx *stm.Tx) error {
		id, ok, err := stm.Namespace("task").Lookup(tx, "table")
		if err != nil || !ok {
			return err
		}
		recs, err = stm.Get[[]task.Record](tx, id)
		return err
	})
	if err != nil || len(recs) == 0 {
		return false
	}
	for _, r := range recs {
		if r.State == task.StateRunning {
			return false
		}
	}
	return true
}

// requireListsResult waits until srv lists the task of bank alpha as done
// with result, as node node.
func requireListsResult(t *testing.T, srv *task.Server, node, result string) {
	t.Helper()
	require.Eventually(t, func() bool {
		r := tasksOf(srv, "alpha")
		return len(r) == 1 && r[0].State == task.StateDone && r[0].Result == result && r[0].Node == node
	}, 15*time.Second, time.Millisecond, "%s lists the task done with result %s; lists %+v", node, result, srv.List())
}

// crashOnce crashes m once: by the test, or at its end.
func crashOnce(t *testing.T, m *taskMember) func() {
	var once sync.Once
	crash := func() { once.Do(m.crash) }
	t.Cleanup(crash)
	return crash
}

// Reference: §4.3 — a stable task's result outlives its node: a task that
// finished just before its node died is listed done, with its result, by
// the survivor that took its bank over, and again by the restarted node
// after the survivor dies in turn and the bank returns to it. It is never
// run again.
func TestTaskResultListedAfterTakeoverAndReturn(t *testing.T) {
	net := newMemNet()
	release := make(chan struct{})
	close(release)
	a := startTaskMember(t, net, "alpha", gatedSum(release, 50))
	b := startTaskMember(t, net, "beta", gatedSum(release, 50))
	crashA, crashB := crashOnce(t, a), crashOnce(t, b)
	waitFor(t, a.member, "protected", protects([]string{"alpha"}, []string{"beta"}))
	waitFor(t, b.member, "protected", protects([]string{"beta"}, []string{"alpha"}))
	_, err := a.srv.Start(context.Background(), task.Bank{Name: "alpha", STM: a.st.Own()}, "sum", nil)
	require.NoError(t, err)
	requireListsResult(t, a.srv, "alpha", "1275/50")
	require.True(t, endRecorded(a.st.Own()), "a task listed done has its end committed")

	// alpha dies just after its task finished: beta lists the result.
	net.setRefuse(true)
	crashA()
	waitFor(t, b.member, "alpha's bank taken over", func(st StableStatus) bool { return st.Takeovers == 1 })
	requireListsResult(t, b.srv, "beta", "1275/50")
	require.Zero(t, tasksOf(b.srv, "alpha")[0].Restarts, "the finished task is not run again")

	// alpha restarts empty and backs both banks up; then beta dies and
	// alpha takes the bank back: it lists the result again.
	net.setRefuse(false)
	a = startTaskMember(t, net, "alpha", gatedSum(release, 50))
	crashA = crashOnce(t, a)
	waitFor(t, b.member, "both banks re-protected", protects([]string{"alpha", "beta"}, nil))
	waitFor(t, a.member, "backup of both banks", protects(nil, []string{"alpha", "beta"}))
	require.Empty(t, tasksOf(a.srv, "alpha"), "a backup lists nothing")
	net.setRefuse(true)
	crashB()
	waitFor(t, a.member, "both banks taken over", func(st StableStatus) bool { return st.Takeovers == 2 })
	requireListsResult(t, a.srv, "alpha", "1275/50")
	crashA()
}

// Reference: fencing (doc.go) — a partition after a task finished: each
// side takes the other's bank over, so for a while both list the task's
// result; on relinking the side whose copy of the bank lost forgets it and
// the winner, the bank's only holder, still lists it.
func TestTaskResultListedByTheWinnerAfterAPartition(t *testing.T) {
	net := newMemNet()
	release := make(chan struct{})
	close(release)
	a := startTaskMember(t, net, "alpha", gatedSum(release, 50))
	b := startTaskMember(t, net, "beta", gatedSum(release, 50))
	crashOnce(t, a)
	crashOnce(t, b)
	waitFor(t, a.member, "protected", protects([]string{"alpha"}, []string{"beta"}))
	waitFor(t, b.member, "protected", protects([]string{"beta"}, []string{"alpha"}))
	_, err := a.srv.Start(context.Background(), task.Bank{Name: "alpha", STM: a.st.Own()}, "sum", nil)
	require.NoError(t, err)
	requireListsResult(t, a.srv, "alpha", "1275/50")
	require.True(t, endRecorded(a.st.Own()), "a task listed done has its end committed")

	net.cutAll()
	waitFor(t, b.member, "relinked: alpha's bank taken over and kept", func(st StableStatus) bool {
		return st.Takeovers == 1 && protects([]string{"alpha"}, []string{"beta"})(st)
	})
	waitFor(t, a.member, "relinked: beta's bank taken over and kept", func(st StableStatus) bool {
		return st.Takeovers == 1 && protects([]string{"beta"}, []string{"alpha"})(st)
	})
	requireListsResult(t, b.srv, "beta", "1275/50")
	require.Empty(t, tasksOf(a.srv, "alpha"), "the loser forgot the bank's tasks")
}
