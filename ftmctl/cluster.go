package main

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/cluster"
	"github.com/ftm-in-go/ftm/kernel/heartbeat"
	"github.com/ftm-in-go/ftm/node/control"
)

type groupStatus = control.GroupStatus

// uniqueName is name, suffixed until no name of taken has it.
func uniqueName(taken []string, name string) string {
	for {
		found := false
		for _, n := range taken {
			found = found || n == name
		}
		if !found {
			return name
		}
		name += "-w"
	}
}

// A cluster is a pair's directory with more than two nodes: every node
// links to every other, each bank's backup is placed by the group (a live
// node with the fewest banks) and re-placed when it is lost. cluster up
// starts N nodes and N−1 witnesses, so that any one node with the
// witnesses is a majority: the cluster serves every bank through the loss
// of all nodes but one, one at a time, as long as each loss is followed by
// re-protection.

func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "cluster",
		Example: `  ftmctl cluster up 3 && ftmctl status
  ftmctl cluster down`,
		Short: "Start and stop a cluster of three or more nodes",
	}
	down := newPairDownCmd()
	down.Short = "Stop every node and witness of the cluster (SIGTERM, then SIGKILL after --grace)"
	down.Example = "  ftmctl cluster down\n  ftmctl cluster down --dir /tmp/c --grace 1s"
	cmd.AddCommand(newClusterUpCmd(), down)
	return cmd
}

func newClusterUpCmd() *cobra.Command {
	o := pairUpOptions{cluster: true}
	cmd := &cobra.Command{
		Use:   "up N",
		Short: "Start a cluster of N nodes (N ≥ 3) and N−1 witnesses in the background",
		Long: `up starts N node processes (n1 … nN) on 127.0.0.1 and N−1 witnesses, voters of
the group that hold no bank. Each node is the primary of its own bank; the
group places each bank's backup on a live node with the fewest banks. When a
node dies, the backups of its banks take them over, and every bank left
without a backup gets a new one on another node, which receives a full copy
while the primary keeps committing. A node restarted by 'ftmctl cluster up'
(run against a cluster whose node was killed) rejoins as a spare.

Status, crash, partition, call and the rest work on a cluster as on a pair;
'ftmctl cluster down' (or 'pair down') stops it.`,
		Example: `  ftmctl cluster up 3 --allow-faults && ftmctl call n1/kv add '{"Key":"a","By":1}'
  ftmctl crash n1; ftmctl status      # n1's bank held and protected elsewhere
  ftmctl cluster up 3                 # restart n1: it rejoins as a spare`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 3 {
				return fmt.Errorf("cluster up N: N must be a number of nodes, 3 or more (for two: ftmctl pair up), got %q", args[0])
			}
			if !cmd.Flags().Changed("nodes") {
				o.names = nil
				for i := 1; i <= n; i++ {
					o.names = append(o.names, fmt.Sprintf("n%d", i))
				}
			}
			return pairUp(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", defaultDir(), "state and log directory")
	f.StringSliceVar(&o.names, "nodes", nil, "the node names (default n1 … nN)")
	f.BoolVar(&o.allowFaults, "allow-faults", false, "allow fault injection (ftmctl crash, partition, slow)")
	f.DurationVar(&o.heartbeat, "heartbeat", heartbeat.DefaultPeriod, "heartbeat period between the nodes (silence for 20 periods means death)")
	f.DurationVar(&o.wait, "wait", defaultReadyWait, "how long to wait until the cluster is ready (0: return at once)")
	f.StringVar(&o.exec, "exec", "", "the node binary the nodes run (default: "+defaultNodeBinary+" next to ftmctl)")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus metrics over HTTP on this loopback address (port 0: each node picks one; port P: the nodes take P, P+1, …)")
	f.StringVar(&o.webConfig, "web-config-file", "", "exporter-toolkit web configuration (TLS, basic auth) for --metrics-addr")
	return cmd
}

// planMoreWitnesses adds a cluster's further witnesses to st (one fewer
// witness than nodes in all).
func planMoreWitnesses(dir string, st *pairState) error {
	taken := []string{st.Witness.Name}
	for _, n := range st.Nodes {
		taken = append(taken, n.Name)
	}
	for i := 2; i < len(st.Nodes); i++ {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return err
		}
		name := uniqueName(taken, fmt.Sprintf("witness%d", i))
		taken = append(taken, name)
		st.Witnesses = append(st.Witnesses, nodeState{Name: name, Consensus: addr, Log: filepath.Join(dir, name+".log")})
	}
	return nil
}

// printGroup prints, under a cluster's status table, the group as its
// leader (or the first node answering) sees it: members, leader, leases,
// and every bank's primary, backup and protection.
func printGroup(w io.Writer, rows []statusRow) error {
	view := groupView(rows)
	if view == nil {
		return nil
	}
	st := view.State
	fmt.Fprintf(w, "\ngroup: leader %s; members %s\n", orNone(view.Leader), strings.Join(memberNames(st), " "))
	fmt.Fprintf(w, "leases: %s\n", strings.Join(leaseCells(rows, st), "  "))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BANK\tPRIMARY\tBACKUP\tPROTECTION\tEPOCH")
	names := make([]string, 0, len(st.Banks))
	for b := range st.Banks {
		names = append(names, b)
	}
	sort.Strings(names)
	for _, b := range names {
		bs := st.Banks[b]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", b, bs.Primary, orDash(bs.Backup != "", bs.Backup), protection(bs), bs.Epoch)
	}
	return tw.Flush()
}

// groupView is the group status of the leader's row, else of the first
// row that has one; nil for a pair.
func groupView(rows []statusRow) *groupStatus {
	var first *groupStatus
	for _, r := range rows {
		if r.Status == nil || r.Status.Group == nil || len(r.Status.Peers) == 0 {
			continue
		}
		if first == nil {
			first = r.Status.Group
		}
		if r.Status.Group.Leader == r.Node {
			return r.Status.Group
		}
	}
	return first
}

// memberNames lists the group's members: the nodes, then the witnesses.
func memberNames(st cluster.State) []string {
	var nodes, witnesses []string
	for n, m := range st.Members {
		if m.Witness {
			witnesses = append(witnesses, n)
		} else {
			nodes = append(nodes, n)
		}
	}
	sort.Strings(nodes)
	sort.Strings(witnesses)
	if len(witnesses) > 0 {
		nodes = append(nodes, "witnesses: "+strings.Join(witnesses, " "))
	}
	return nodes
}

// leaseCells is each node's lease: held or not (as the node itself says)
// and its renewals counted by the group.
func leaseCells(rows []statusRow, st cluster.State) []string {
	var out []string
	for _, r := range rows {
		state := "down"
		if r.Status != nil && r.Status.Group != nil {
			state = map[bool]string{true: "held", false: "not held"}[r.Status.Group.Lease.Held]
		}
		out = append(out, fmt.Sprintf("%s %s (%d renewals)", r.Node, state, st.Leases[r.Node]))
	}
	return out
}

// protection says how a bank is protected: by a backup, by a copy under
// way to the placed node, or not at all (its primary commits alone under
// its lease).
func protection(b cluster.BankState) string {
	switch {
	case b.Orphan:
		return "orphan (primary restarted)"
	case b.Backup != "":
		return "protected"
	case b.Target != "":
		return "copying to " + b.Target
	case b.Mirrored:
		return "claimed, not yet protected"
	}
	return "unprotected (commits alone)"
}

// checkNames wants two different node names for a pair, three or more
// for a cluster.
func (o pairUpOptions) checkNames() error {
	distinct := map[string]bool{}
	for _, n := range o.names {
		distinct[n] = true
	}
	switch {
	case o.cluster && (len(o.names) < 3 || len(distinct) != len(o.names)):
		return fmt.Errorf("a cluster needs three or more different node names, got %v", o.names)
	case !o.cluster && (len(o.names) != 2 || len(distinct) != 2):
		return fmt.Errorf("--nodes needs two different names, got %v", o.names)
	}
	return nil
}

// linkCell is a node's LINK cell: its partner link up or down, or for a
// cluster how many of its peer links are up ("2/2 up").
func linkCell(s *nodeStatus) string {
	if len(s.Peers) == 0 {
		return map[bool]string{false: "down", true: "up"}[s.Linked]
	}
	up := 0
	for _, p := range s.Peers {
		if p.Linked {
			up++
		}
	}
	return fmt.Sprintf("%d/%d up", up, len(s.Peers))
}

// notLinked lists the nodes s should be linked to and is not: a pair
// node's partner, or a cluster node's peers that run (a dead peer is
// another node's problem, reported on its own row).
func notLinked(st *pairState, s nodeStatus) []string {
	if len(s.Peers) == 0 {
		if s.Linked {
			return nil
		}
		return []string{s.Partner}
	}
	var out []string
	for _, p := range s.Peers {
		if n, err := st.Node(p.Partner); !p.Linked && err == nil && alive(n.PID) {
			out = append(out, p.Partner)
		}
	}
	return out
}
