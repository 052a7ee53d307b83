package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/servers"
)

func ruNodes(t *testing.T, bin, dir string) []ruNode {
	t.Helper()
	var nodes []ruNode
	stdoutJSON(t, bin, &nodes, "ru", "--dir", dir, "-o", "json")
	return nodes
}

// servedBanks maps each bank whose servers run to the node running them.
func servedBanks(nodes []ruNode) map[string]string {
	out := map[string]string{}
	for _, n := range nodes {
		for _, h := range n.Hosts {
			if h.Running {
				out[h.Bank] = n.Node
			}
		}
	}
	return out
}

// waitServers waits until the reliable servers of every bank named run.
func waitServers(t *testing.T, bin, dir string, banks ...string) {
	t.Helper()
	eventually(t, fmt.Sprintf("the servers of banks %v run", banks), func() bool {
		served := servedBanks(ruNodes(t, bin, dir))
		for _, b := range banks {
			if served[b] == "" {
				return false
			}
		}
		return true
	})
}

func unitIn(nodes []ruNode, unit string) (node string, u servers.UnitStatus) {
	for _, n := range nodes {
		for _, h := range n.Hosts {
			for _, x := range h.Units {
				if x.Unit == unit {
					return n.Node, x
				}
			}
		}
	}
	return "", servers.UnitStatus{}
}

// ruPair drives ftmctl against a real pair, one method per step of the
// recovery-unit scenario; the steps run in order on the same pair.
type ruPair struct {
	t   *testing.T
	bin string
	dir string
}

// run runs ftmctl on the pair and requires it to succeed.
func (p ruPair) run(args ...string) string {
	p.t.Helper()
	out, err := ftmctl(p.t, p.bin, append(args, "--dir", p.dir)...)
	require.NoError(p.t, err, "ftmctl %v: %s", args, out)
	return out
}

// ftmctl ru, ru graph, kv and ckpt now RU against a real pair (two node
// processes): the table, JSON and DOT after kv calls that create
// dependencies across the nodes, a checkpoint that ends them, one-line
// errors, and the servers of a killed node restarted from its bank on
// the survivor.
func TestRecoveryUnitsOnARealPair(t *testing.T) {
	t.Parallel() // real processes in a directory of its own, on free ports; no CPU-bound workload
	if testing.Short() {
		t.Skip("starts processes")
	}
	// No witness: the survivor holds the banks with no backup and no
	// lease, so it stops their servers (with the witness it would go on).
	bin, dir, _ := startPair(t, "--no-witness")
	waitServers(t, bin, dir, "n1", "n2")
	p := ruPair{t: t, bin: bin, dir: dir}

	p.unitsStartIndependent()
	kvRU := p.externalUpdateIsOutputCommitted()
	p.callsCreateDependenciesAcrossNodes(kvRU)
	p.graphShowsTheDependencies(kvRU)
	p.checkpointEndsTheDependencies(kvRU)
	p.shortNameCheckpointsEveryBank()
	p.oneLineErrors()
	p.crashAndRestartOnTheSurvivor()
}

// unitsStartIndependent: each node's kv and app units run, with no
// dependency between them.
func (p ruPair) unitsStartIndependent() {
	t := p.t
	out := p.run("ru")
	require.Regexp(t, `NODE\s+UNIT\s+RU\s+PHASE\s+ACTION\s+PREDS\s+SUCCS\s+MODIFIED\s+LAST\n`, out)
	for _, n := range []string{"n1", "n2"} {
		require.Regexp(t, fmt.Sprintf(`%s\s+%s/kv\s+%s/kv\.1\s+running\s+-\s+-\s+-\s+no\s+-\n`, n, n, n), out)
		require.Regexp(t, fmt.Sprintf(`%s\s+%s/app\s+%s/app\.1\s+running\s+-\s+-\s+-\s+no\s+-\n`, n, n, n), out)
	}
	require.Equal(t, "no dependencies between recovery units\n", p.run("ru", "graph"))
}

// externalUpdateIsOutputCommitted: the server's RU commits before the
// answer, so no dependency is left. It returns n1/kv's RU after that.
func (p ruPair) externalUpdateIsOutputCommitted() (kvRU string) {
	t, bin, dir := p.t, p.bin, p.dir
	require.Equal(t, "n1/kv: put a -> 5 (external call: answered after the server's RU committed)\n", p.run("kv", "put", "a", "5"))
	_, kv := unitIn(ruNodes(t, bin, dir), "n1/kv")
	require.Equal(t, "committed", kv.LastOutcome)
	return kv.RU
}

// callsCreateDependenciesAcrossNodes: an update from n2's application
// RU makes edges both ways, across nodes; a read from n1's application
// RU of modified state makes one server → client.
func (p ruPair) callsCreateDependenciesAcrossNodes(kvRU string) {
	t, bin, dir := p.t, p.bin, p.dir
	require.Equal(t, "n1/kv: add a -> 7 (called in RU n2/app.1: durable once it checkpoints, `ftmctl ckpt now n2/app`)\n",
		p.run("kv", "add", "a", "2", "--from", "n2"))
	require.Equal(t, "n1/kv: a = 7 (read in RU n1/app.1)\n", p.run("kv", "get", "a", "--from", "n1"))

	nodes := ruNodes(t, bin, dir)
	node, kv := unitIn(nodes, "n1/kv")
	require.Equal(t, "n1", node)
	require.Equal(t, kvRU, kv.RU)
	require.True(t, kv.Server && kv.Up && kv.Modified)
	require.Equal(t, []string{"n2/app.1"}, kv.Preds)
	require.Equal(t, []string{"n1/app.1", "n2/app.1"}, kv.Succs)
	node, app := unitIn(nodes, "n2/app")
	require.Equal(t, "n2", node)
	require.False(t, app.Server)
	require.Equal(t, []string{kvRU}, app.Preds)
	require.Equal(t, []string{kvRU}, app.Succs)
}

// graphShowsTheDependencies: the table, the graph as text and JSON, and
// the DOT rendering show the edges the calls made.
func (p ruPair) graphShowsTheDependencies(kvRU string) {
	t, bin, dir := p.t, p.bin, p.dir
	out := p.run("ru")
	require.Regexp(t, fmt.Sprintf(`n1\s+n1/kv\s+%s\s+running\s+-\s+n2/app\.1\s+n1/app\.1,n2/app\.1\s+yes\s+committed\n`, regexp.QuoteMeta(kvRU)), out)
	require.Regexp(t, fmt.Sprintf(`n2\s+n2/app\s+n2/app\.1\s+running\s+-\s+%s\s+%s\s+no\s+-\n`, regexp.QuoteMeta(kvRU), regexp.QuoteMeta(kvRU)), out)

	edges := fmt.Sprintf("%[1]s -> n1/app.1\n%[1]s -> n2/app.1\nn2/app.1 -> %[1]s\n", kvRU)
	require.Equal(t, edges, p.run("ru", "graph"))
	var g ruGraph
	stdoutJSON(t, bin, &g, "ru", "graph", "-o", "json", "--dir", dir)
	require.Equal(t, []servers.Edge{{From: kvRU, To: "n1/app.1"}, {From: kvRU, To: "n2/app.1"}, {From: "n2/app.1", To: kvRU}}, g.Edges)
	require.Len(t, g.Units, 8, "kv, screen, files and app on each bank")
	dot := p.run("ru", "graph", "--dot")
	require.True(t, strings.HasPrefix(dot, "// ftmctl ru graph: an edge P -> Q means Q depends on P\ndigraph ru {\n"), dot)
	require.Contains(t, dot, "  subgraph \"cluster_n1\" {\n    label=\"node n1\";\n")
	require.Contains(t, dot, fmt.Sprintf("    %q [label=%q];\n", kvRU, kvRU+"\nrunning"))
	require.Contains(t, dot, fmt.Sprintf("  %q -> %q;\n", "n2/app.1", kvRU))
	require.Contains(t, dot, fmt.Sprintf("  %q -> %q;\n", kvRU, "n2/app.1"))
	require.True(t, strings.HasSuffix(dot, ";\n}\n"), dot)
}

// checkpointEndsTheDependencies: checkpointing n2/app commits its RU
// with n1/kv's (its predecessor); n1/app keeps its edge to that
// committed RU until it checkpoints too.
func (p ruPair) checkpointEndsTheDependencies(kvRU string) {
	t, bin, dir := p.t, p.bin, p.dir
	out := p.run("ckpt", "now", "n2/app")
	require.Regexp(t, fmt.Sprintf(`^recovery unit n2/app on node n2: RU n2/app\.1 committed with %s in \S+ \(\d+ protocol messages sent by n2\); now in RU n2/app\.2\n$`, regexp.QuoteMeta(kvRU)), out)
	es := ckptEntries(t, bin, dir)
	require.NotEmpty(t, es)
	last := es[len(es)-1]
	require.Equal(t, "n2/app", last.Unit)
	require.Equal(t, "ru", last.Program)
	require.Equal(t, "ckpt now", last.Initiator)
	require.Equal(t, 1, last.Number)
	require.Equal(t, []string{kvRU, "n2/app.1"}, last.Members)
	require.Positive(t, last.Msgs)
	out = p.run("ckpt", "log")
	require.Regexp(t, fmt.Sprintf(`n2\s+n2/app\s+ru\s+-\s+ckpt now\s+1\s+1\s+-\s+-\s+\S+s\s+-\s+\d+\s+%s,n2/app\.1\n`, regexp.QuoteMeta(kvRU)), out)
	eventually(t, "n1/kv's RU ended with the checkpoint", func() bool {
		_, kv := unitIn(ruNodes(t, bin, dir), "n1/kv")
		return kv.RU != kvRU && kv.LastOutcome == "committed"
	})
	require.Equal(t, fmt.Sprintf("%s -> n1/app.1\n", kvRU), p.run("ru", "graph"))
}

// shortNameCheckpointsEveryBank: ckpt now app and ckpt now kv checkpoint
// that unit on both banks; then no dependency is left and the value is
// durable.
func (p ruPair) shortNameCheckpointsEveryBank() {
	t, bin, dir := p.t, p.bin, p.dir
	var reps []ruCkptReply
	stdoutJSON(t, bin, &reps, "ckpt", "now", "app", "-o", "json", "--dir", dir)
	require.Len(t, reps, 2, "a short name checkpoints that unit on every bank")
	require.Equal(t, "n1/app", reps[0].Unit)
	require.Equal(t, "n1/app.1", reps[0].RU)
	require.Equal(t, "n1/app.2", reps[0].NextRU)
	require.Equal(t, "no dependencies between recovery units\n", p.run("ru", "graph"))
	out := p.run("ckpt", "now", "kv")
	require.Regexp(t, `^recovery unit n1/kv on node n1: RU n1/kv\.\d+ committed .*\nrecovery unit n2/kv on node n2: RU n2/kv\.1 committed .*; now in RU n2/kv\.2\n$`, out)
	var kr kvReply
	stdoutJSON(t, bin, &kr, "kv", "get", "a", "-o", "json", "--dir", dir)
	require.Equal(t, kvReply{Node: "n1", Server: "n1/kv", Op: "get", Key: "a", Value: 7, Durable: true}, kr)
}

// oneLineErrors: bad kv and ru requests fail with one line each.
func (p ruPair) oneLineErrors() {
	t, bin, dir := p.t, p.bin, p.dir
	require.Equal(t, "ftmctl: node n1: n1/kv.get: no such key", oneLineError(t, bin, "kv", "get", "nosuch", "--dir", dir))
	require.Contains(t, oneLineError(t, bin, "kv", "del", "a", "--dir", dir), `unknown kv operation "del"`)
	require.Contains(t, oneLineError(t, bin, "kv", "put", "a", "--dir", dir), "kv put takes 2 argument(s), got 1")
	require.Contains(t, oneLineError(t, bin, "kv", "put", "a", "x", "--dir", dir), `bad value "x"`)
	require.Contains(t, oneLineError(t, bin, "kv", "get", "a", "--bank", "n9", "--dir", dir), `no running node runs the servers of bank "n9" (banks served: n1, n2)`)
	require.Contains(t, oneLineError(t, bin, "kv", "get", "a", "--from", "n9", "--dir", dir), `bank "n9"`)
	require.Contains(t, oneLineError(t, bin, "ru", "-o", "xml", "--dir", dir), "unknown output format")
	require.Contains(t, oneLineError(t, bin, "ru", "--node", "n3", "--dir", dir), `unknown node "n3"`)
}

// crashAndRestartOnTheSurvivor: n1 dies after an uncommitted update by
// n2/app: n2 takes n1's bank over; once n1 is back as its backup, n2
// runs n1's servers from the bank: the committed value is there, the
// uncommitted update is not (its RU aborted with the crash).
func (p ruPair) crashAndRestartOnTheSurvivor() {
	t, bin, dir := p.t, p.bin, p.dir
	require.Contains(t, p.run("kv", "add", "a", "100", "--from", "n2"), "a -> 107")
	p.run("crash", "n1")
	eventually(t, "n2 took n1's bank over and stopped the servers (no backup)", func() bool {
		out, err := ftmctl(t, bin, "ru", "--dir", dir)
		return err == nil && strings.Contains(out, "note: node n2 holds bank n1 but does not run its servers: no backup attached")
	})
	p.run("pair", "up")
	waitServers(t, bin, dir, "n1", "n2")
	nodes := ruNodes(t, bin, dir)
	require.Equal(t, map[string]string{"n1": "n2", "n2": "n2"}, servedBanks(nodes))
	for _, unit := range []string{"n1/kv", "n2/app"} {
		_, u := unitIn(nodes, unit)
		require.Equal(t, "aborted", u.LastOutcome, unit)
	}
	require.Equal(t, "n1/kv: a = 7\n", p.run("kv", "get", "a"))
}
