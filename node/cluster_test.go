package node

import (
	"context"
	"fmt"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/cluster"
	"github.com/ftm-in-go/ftm/internal/proctest"
	"github.com/ftm-in-go/ftm/node/control"
)

func init() { roles["witness-named"] = namedWitnessRole }

// namedWitnessRole runs witness args[1] of the cluster in args[0].
func namedWitnessRole(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	return RunWitnessNamed(ctx, args[0], args[1], nil)
}

// newClusterDir writes a cluster's directory: the nodes and one fewer
// witness, as ftmctl cluster up does.
func newClusterDir(t *testing.T, names ...string) string {
	t.Helper()
	dir := newGroupDir(t, names...)
	st, err := control.LoadPair(dir)
	require.NoError(t, err)
	for i := 2; i < len(names); i++ {
		w := newGroupDir(t, "x", "y") // a free consensus address, from a throw-away directory
		ws, err := control.LoadPair(w)
		require.NoError(t, err)
		name := fmt.Sprintf("witness%d", i)
		st.Witnesses = append(st.Witnesses, control.NodeState{Name: name, Consensus: ws.Witness.Consensus, Log: filepath.Join(dir, name+".log")})
	}
	require.NoError(t, control.SavePair(dir, st))
	return dir
}

// clusterView is the group's state as node c sees it.
func clusterView(c *testClient) (cluster.State, bool) {
	st, ok := groupStatus(c)
	if !ok || st.Group == nil {
		return cluster.State{}, false
	}
	return st.Group.State, true
}

// protectedAmong reports whether every bank has a primary and a backup
// among live, in the group's state as c sees it.
func protectedAmong(c *testClient, banks []string, live map[string]*testClient) bool {
	st, ok := clusterView(c)
	if !ok {
		return false
	}
	for _, b := range banks {
		bs := st.Banks[b]
		if live[bs.Primary] == nil || live[bs.Backup] == nil {
			return false
		}
	}
	return true
}

// addAt adds by to bank's counter at the node the group says holds it,
// retrying until one answers; it returns the counter's value.
func addAt(t *testing.T, live map[string]*testClient, bank string, by int) int {
	t.Helper()
	var got string
	eventually(t, "a durable update of "+bank+"/counter answered", func() bool {
		for _, c := range live {
			st, ok := clusterView(c)
			if !ok || live[st.Banks[bank].Primary] == nil {
				continue
			}
			v, err := live[st.Banks[bank].Primary].add(bank+"/counter", by)
			if err == nil {
				got = v
				return true
			}
		}
		return false
	})
	n, err := strconv.Atoi(got)
	require.NoError(t, err, "counter value %q", got)
	return n
}

// Reference: re-protection onto any node (docs/architecture.md, clusters) — a 3-node cluster
// with real processes: durable updates answered on every bank; SIGKILL of
// one node: its bank's updates are answered by a survivor with nothing
// restarted and every bank is protected again on the two left; SIGKILL of
// a second: the last node answers for every bank, and each counter holds
// every acknowledged update exactly once.
func TestClusterSurvivesTwoSequentialSIGKILLs(t *testing.T) {
	names := []string{"n1", "n2", "n3"}
	dir := newClusterDir(t, names...)
	proctest.Start(t, proctest.Spec{Role: "witness-named", Args: []string{dir, "witness"}, Timeout: 3 * time.Minute})
	proctest.Start(t, proctest.Spec{Role: "witness-named", Args: []string{dir, "witness2"}, Timeout: 3 * time.Minute})
	procs := map[string]*proctest.Process{}
	live := map[string]*testClient{}
	for _, n := range names {
		procs[n], live[n] = startNodeProcess(t, dir, n), newTestClient(dir, n)
	}
	// Five processes and a raft election under the race detector on a
	// loaded machine: the start-up gets longer than eventually's bound.
	require.Eventually(t, func() bool { return protectedAmong(live["n1"], names, live) }, time.Minute, 50*time.Millisecond,
		"every bank protected")
	want := map[string]int{}
	for i, b := range names {
		want[b] = 10 * (i + 1)
		require.Equal(t, want[b], addAt(t, live, b, want[b]))
	}
	for _, victim := range []string{"n1", "n2"} {
		require.NoError(t, procs[victim].Kill())
		delete(live, victim)
		for _, b := range names {
			want[b]++
			require.Equal(t, want[b], addAt(t, live, b, 1), "bank %s after %s's SIGKILL: every acknowledged update once", b, victim)
		}
		if len(live) > 1 {
			eventually(t, "every bank protected again on the nodes left", func() bool { return protectedAmong(live["n3"], names, live) })
		}
	}
	st, ok := clusterView(live["n3"])
	require.True(t, ok)
	for _, b := range names {
		require.Equal(t, "n3", st.Banks[b].Primary, "the last node holds bank %s", b)
	}
}
