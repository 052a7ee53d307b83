package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/servers"
)

// The table and the graph for states a quiet pair rarely shows: a unit in
// a checkpoint's phase 1 (initiator), one down, a bank whose servers are
// stopped, a node that runs none and one that did not answer.
func TestRURendering(t *testing.T) {
	nodes := []ruNode{
		{Node: "a", Hosts: []ruHost{
			{Bank: "a", Running: true, DriverStatus: servers.DriverStatus{Host: "a",
				Units: []servers.UnitStatus{
					{Unit: "a/app", Up: true, RU: "a/app.3", Phase: "building", Action: "a/app.3#1", Root: true, Want: true,
						Preds: []string{"b/kv.2"}, Succs: []string{}},
					{Unit: "a/kv", Server: true, RU: "a/kv.5", Phase: "running", Preds: []string{}, Succs: []string{}, LastOutcome: "aborted"},
				},
				Edges: []servers.Edge{{From: "b/kv.2", To: "a/app.3"}}}},
			{Bank: "z", Waiting: "no backup attached: the bank refuses commits"},
		}},
		{Node: "b", Hosts: []ruHost{
			{Bank: "b", Running: true, DriverStatus: servers.DriverStatus{Host: "b",
				Units: []servers.UnitStatus{{Unit: "b/kv", Server: true, Up: true, RU: "b/kv.2", Phase: "precommitted",
					Action: "a/app.3#1", Parent: "a/app.3", Preds: []string{}, Succs: []string{"a/app.3"}, Modified: true}},
				Edges: []servers.Edge{{From: "b/kv.2", To: "a/app.3"}}}},
		}},
		{Node: "c", Hosts: []ruHost{}, Off: "FTM_FAILPOINTS is set"},
		{Node: "d", Hosts: []ruHost{}, Error: "node d is not answering on its control socket (is the pair up?)"},
	}
	var b strings.Builder
	require.NoError(t, printRUTable(&b, nodes))
	out := b.String()
	require.Regexp(t, `a\s+a/app\s+a/app\.3\s+building\s+a/app\.3#1 \(initiator\)\s+b/kv\.2\s+-\s+no\s+-\n`, out)
	require.Regexp(t, `a\s+a/kv\s+a/kv\.5\s+down \(restarting\)\s+-\s+-\s+-\s+no\s+aborted\n`, out)
	require.Regexp(t, `b\s+b/kv\s+b/kv\.2\s+precommitted\s+a/app\.3#1\s+-\s+a/app\.3\s+yes\s+-\n`, out)
	require.Contains(t, out, "note: node a holds bank z but does not run its servers: no backup attached: the bank refuses commits\n")
	require.Contains(t, out, "note: node c runs no reliable servers: FTM_FAILPOINTS is set\n")
	require.Contains(t, out, "note: node d is not answering on its control socket (is the pair up?)\n")

	g := graphOf(nodes)
	require.Equal(t, []servers.Edge{{From: "b/kv.2", To: "a/app.3"}}, g.Edges, "an edge seen from both ends is one edge")
	require.Equal(t, []string{"a/app.3", "a/kv.5", "b/kv.2"}, []string{g.Units[0].RU, g.Units[1].RU, g.Units[2].RU})
	b.Reset()
	require.NoError(t, printDOT(&b, g))
	require.Equal(t, `// ftmctl ru graph: an edge P -> Q means Q depends on P
digraph ru {
  rankdir=LR;
  node [shape=box];
  subgraph "cluster_a" {
    label="node a";
    "a/app.3" [label="a/app.3\nbuilding"];
    "a/kv.5" [label="a/kv.5\nrunning"];
  }
  subgraph "cluster_b" {
    label="node b";
    "b/kv.2" [label="b/kv.2\nprecommitted"];
  }
  "b/kv.2" -> "a/app.3";
}
`, b.String())

	_, err := runningHost(nodes, "z")
	require.EqualError(t, err, "the servers of bank z are not running: node a holds it but no backup attached: the bank refuses commits; node c runs none: FTM_FAILPOINTS is set")
	n, err := runningHost(nodes, "a")
	require.NoError(t, err)
	require.Equal(t, "a", n)
}
