package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/servers"
)

func newRUCmd() *cobra.Command {
	var f pairFlags
	cmd := &cobra.Command{
		Use: "ru",
		Example: `  ftmctl ru
  ftmctl ru --node n1 -o yaml
  ftmctl ru -o name             # the unit names 'ckpt now' and 'call' take`,
		Short: "List the recovery units of the reliable servers: RU, phase, action, dependencies",
		Long: `ru lists the recovery units that each running node runs for the STM banks
it holds: the built-in key-value server BANK/kv and the application unit
BANK/app (see 'ftmctl kv'). For each: its current RU (name.incarnation), its
phase in the checkpoint protocol (running, building, precommitted), the
atomic action it takes part in, the RUs it depends on (PREDS) and those
that depend on it (SUCCS), and how its previous RU ended.

A bank's servers run only while the bank accepts commits (its backup is
attached); a note says why a bank's servers are stopped. After a takeover
the survivor runs them from the bank's saved states.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			nodes, err := askRU(cmd, f)
			if err != nil {
				return err
			}
			if done, err := emit(cmd.OutOrStdout(), f.output, nodes, func() []string { return ruUnitNames(nodes) }); done {
				return err
			}
			return notesToStderr(cmd, func(w io.Writer) error { return printRUTable(w, nodes) })
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&f.node, "node", "", "ask only this node")
	cmd.AddCommand(newRUGraphCmd())
	return cmd
}

// askRU checks -o and asks the running nodes (or only f.node) for their
// recovery units.
func askRU(cmd *cobra.Command, f pairFlags) ([]ruNode, error) {
	if err := checkOutput(f.output, readFormats...); err != nil {
		return nil, err
	}
	return fetchRU(cmd, f.dir, f.node)
}

// fetchRU asks the running nodes (or only one) for their recovery units.
// A node that does not answer is reported in its Error, unless the secret
// is wrong.
func fetchRU(cmd *cobra.Command, dir, only string) ([]ruNode, error) {
	st, err := loadPair(dir)
	if err != nil {
		return nil, err
	}
	nodes, err := nodesToAsk(st, only)
	if err != nil {
		return nil, err
	}
	out := []ruNode{}
	for _, n := range nodes {
		var rn ruNode
		if err := newControlClient(dir, n.Name).get(cmd.Context(), "/ru", &rn); err != nil {
			if errors.Is(err, errAuth) || only != "" {
				return nil, err
			}
			rn = ruNode{Node: n.Name, Hosts: []ruHost{}, Error: err.Error()}
		}
		out = append(out, rn)
	}
	return out, nil
}

func dash(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printRUTable(w io.Writer, nodes []ruNode) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tUNIT\tRU\tPHASE\tACTION\tPREDS\tSUCCS\tMODIFIED\tLAST")
	var notes []string
	for _, n := range nodes {
		if n.Error != "" {
			notes = append(notes, fmt.Sprintf("note: %s", n.Error))
		}
		if n.Off != "" {
			notes = append(notes, fmt.Sprintf("note: node %s runs no reliable servers: %s", n.Node, n.Off))
		}
		for _, h := range n.Hosts {
			if !h.Running {
				notes = append(notes, fmt.Sprintf("note: node %s holds bank %s but does not run its servers: %s", n.Node, h.Bank, h.Waiting))
				continue
			}
			for _, u := range h.Units {
				phase := u.Phase
				switch {
				case !u.Up:
					phase = "down (restarting)"
				case u.Want && u.Phase == "running":
					phase = "running (ckpt wanted)"
				}
				action := dashIfEmpty(u.Action)
				if u.Root {
					action += " (initiator)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Node, u.Unit, u.RU, phase, action,
					dash(u.Preds), dash(u.Succs), map[bool]string{true: "yes", false: "no"}[u.Modified], dashIfEmpty(u.LastOutcome))
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range notes {
		if _, err := fmt.Fprintln(w, s); err != nil {
			return err
		}
	}
	return nil
}

// ruGraph is the pair's dependency graph (ftmctl ru graph -o json).
type ruGraph struct {
	Units []ruGraphUnit  `json:"units"`
	Edges []servers.Edge `json:"edges"`
}

type ruGraphUnit struct {
	Node  string `json:"node"`
	Unit  string `json:"unit"`
	RU    string `json:"ru"`
	Phase string `json:"phase"`
}

// graphOf merges the nodes' views: an edge known at both ends is one edge.
func graphOf(nodes []ruNode) ruGraph {
	g := ruGraph{Units: []ruGraphUnit{}, Edges: []servers.Edge{}}
	seen := map[servers.Edge]bool{}
	for _, n := range nodes {
		for _, h := range n.Hosts {
			for _, u := range h.Units {
				if u.RU != "" {
					g.Units = append(g.Units, ruGraphUnit{Node: n.Node, Unit: u.Unit, RU: u.RU, Phase: u.Phase})
				}
			}
			for _, e := range h.Edges {
				if !seen[e] {
					seen[e] = true
					g.Edges = append(g.Edges, e)
				}
			}
		}
	}
	sort.Slice(g.Units, func(i, j int) bool { return g.Units[i].RU < g.Units[j].RU })
	slices.SortFunc(g.Edges, func(a, b servers.Edge) int {
		return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	return g
}

func newRUGraphCmd() *cobra.Command {
	var f pairFlags
	var dot bool
	cmd := &cobra.Command{
		Use: "graph",
		Example: `  ftmctl ru graph
  ftmctl ru graph --dot | dot -Tsvg > ru.svg`,
		Short: "Print the dependency graph of the recovery units (text, or Graphviz DOT with --dot)",
		Long: `graph prints the dependencies between the current recovery units of the
pair, one edge per line: 'P -> Q' means Q depends on P (P is a predecessor
of Q): if P aborts Q aborts too, and a checkpoint of Q commits P with it.
An update call makes an edge both ways; a read of state modified in the
server's RU makes server -> client; a read of unmodified state makes none.
A checkpoint ends the RUs it commits, and their edges with them.

With --dot the graph is written in Graphviz DOT, one cluster per node
(render it with 'ftmctl ru graph --dot | dot -Tsvg > ru.svg').`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dot && f.output != "table" {
				return fmt.Errorf("--dot and -o %s conflict: --dot writes Graphviz DOT (drop one)", f.output)
			}
			nodes, err := askRU(cmd, f)
			if err != nil {
				return err
			}
			g := graphOf(nodes)
			w := cmd.OutOrStdout()
			if dot {
				return printDOT(w, g)
			}
			if done, err := emit(w, f.output, g, func() []string { return ruUnitNames(nodes) }); done {
				return err
			}
			if len(g.Edges) == 0 {
				_, err := fmt.Fprintln(w, "no dependencies between recovery units")
				return err
			}
			for _, e := range g.Edges {
				if _, err := fmt.Fprintf(w, "%s -> %s\n", e.From, e.To); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&f.node, "node", "", "ask only this node")
	cmd.Flags().BoolVar(&dot, "dot", false, "write Graphviz DOT")
	return cmd
}

func printDOT(w io.Writer, g ruGraph) error {
	var b strings.Builder
	b.WriteString("// ftmctl ru graph: an edge P -> Q means Q depends on P\n")
	b.WriteString("digraph ru {\n  rankdir=LR;\n  node [shape=box];\n")
	byNode := map[string][]ruGraphUnit{}
	var order []string
	for _, u := range g.Units {
		if byNode[u.Node] == nil {
			order = append(order, u.Node)
		}
		byNode[u.Node] = append(byNode[u.Node], u)
	}
	sort.Strings(order)
	for _, n := range order {
		fmt.Fprintf(&b, "  subgraph %q {\n    label=%q;\n", "cluster_"+n, "node "+n)
		for _, u := range byNode[n] {
			fmt.Fprintf(&b, "    %q [label=%q];\n", u.RU, u.RU+"\n"+u.Phase)
		}
		b.WriteString("  }\n")
	}
	for _, e := range g.Edges {
		fmt.Fprintf(&b, "  %q -> %q;\n", e.From, e.To)
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// ruUnitNames are the recovery units the nodes run, by full name (-o name).
func ruUnitNames(nodes []ruNode) []string {
	var names []string
	for _, n := range nodes {
		for _, h := range n.Hosts {
			for _, u := range h.Units {
				names = append(names, u.Unit)
			}
		}
	}
	return names
}
