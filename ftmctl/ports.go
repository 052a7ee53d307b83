package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/task"
)

// nodeKernelTasks is one node's kernel tasks as `ftmctl ports` lists them.
type nodeKernelTasks struct {
	Node  string       `json:"node"`
	Tasks []kernelTask `json:"tasks"`
}

func newPortsCmd() *cobra.Command {
	var f pairFlags
	cmd := &cobra.Command{
		Use:   "ports [TASK]",
		Short: "List the kernel tasks of each node, or one task's port names and rights",
		Long: `ports lists each running node's kernel tasks and, for TASK (a kernel task's
name), the names in its port name space: the right each name denotes
(receive, send with its reference count, send-once, dead name, port set).

Stable tasks (ftmctl ps) do not own kernel tasks today: they run as goroutines
whose memory is in RVM segments, so they hold no port names. Naming one gives
an error saying so (a number is taken as a stable task's id, as ps shows it).
The kernel task every node runs is ftmctl-control, which
holds the receive right of the port it registers as ftmctl/NODE.`,
		Example: "  ftmctl ports\n  ftmctl ports ftmctl-control --node alpha -o json",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pn, err := f.runningNodes()
			if err != nil {
				return err
			}
			var all []nodeKernelTasks
			if err := getFromEach(cmd.Context(), pn, "/ports", func(name string, ts []kernelTask) {
				all = append(all, nodeKernelTasks{Node: name, Tasks: ts})
			}); err != nil {
				return err
			}
			if len(args) == 0 {
				return printKernelTasks(cmd.OutOrStdout(), f.output, all)
			}
			matched := matchKernelTask(all, args[0])
			if len(matched) == 0 {
				return noKernelTask(cmd, pn, all, args[0])
			}
			return printPorts(cmd.OutOrStdout(), f.output, matched)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&f.node, "node", "", "ask only this node")
	return cmd
}

// matchKernelTask keeps, per node, the kernel tasks named arg.
func matchKernelTask(all []nodeKernelTasks, arg string) []nodeKernelTasks {
	var out []nodeKernelTasks
	for _, n := range all {
		for _, t := range n.Tasks {
			if t.Name == arg {
				out = append(out, nodeKernelTasks{Node: n.Node, Tasks: []kernelTask{t}})
			}
		}
	}
	return out
}

// noKernelTask explains why arg names no kernel task, in one line.
func noKernelTask(cmd *cobra.Command, pn pairNodes, all []nodeKernelTasks, arg string) error {
	var known []string
	for _, n := range all {
		for _, t := range n.Tasks {
			known = append(known, fmt.Sprintf("%s:%s", n.Node, t.Name))
		}
	}
	for _, n := range pn.nodes {
		var recs []task.Record
		if err := pn.client(n).get(cmd.Context(), "/ps", &recs); err != nil {
			continue
		}
		for _, r := range recs {
			if strconv.FormatUint(r.ID, 10) == arg || taskKey(r.Bank, r.ID) == arg {
				return fmt.Errorf("task %s is a stable task (%s on %s): stable tasks own no kernel task, so they hold no port names (kernel tasks: %s)",
					arg, r.Program, r.Node, strings.Join(known, ", "))
			}
		}
	}
	if st, err := loadPair(pn.dir); err == nil && isNode(st, arg) {
		return fmt.Errorf("%s is a node, not a kernel task: 'ftmctl ports --node %s' lists its kernel tasks (kernel tasks: %s)", arg, arg, strings.Join(known, ", "))
	}
	return fmt.Errorf("unknown task %q (kernel tasks: %s)", arg, strings.Join(known, ", "))
}

// isNode reports whether name is one of st's nodes.
func isNode(st *pairState, name string) bool {
	_, err := st.Node(name)
	return err == nil
}

func printKernelTasks(w io.Writer, output string, all []nodeKernelTasks) error {
	if done, err := emit(w, output, all, func() []string { return kernelTaskNames(all) }); done {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tTASK ID\tTASK\tNAMES\tRECEIVE\tSEND\tSEND-ONCE\tDEAD")
	for _, n := range all {
		for _, t := range n.Tasks {
			var recv, send, once, dead int
			for _, p := range t.Names {
				recv += int(b2f(p.Receive))
				send += int(p.SendRefs)
				once += int(b2f(p.SendOnce))
				dead += int(p.DeadRefs)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\n", n.Node, t.ID, t.Name, len(t.Names), recv, send, once, dead)
		}
	}
	return tw.Flush()
}

func printPorts(w io.Writer, output string, matched []nodeKernelTasks) error {
	if done, err := emit(w, output, matched, func() []string { return kernelTaskNames(matched) }); done {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tTASK\tNAME\tRIGHT\tRECEIVE\tSEND REFS\tSEND-ONCE\tDEAD REFS\tMEMBERS")
	for _, n := range matched {
		for _, t := range n.Tasks {
			if len(t.Names) == 0 {
				fmt.Fprintf(tw, "%s\t%s\t-\t(no names)\t\t\t\t\t\n", n.Node, t.Name)
			}
			for _, p := range t.Names {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%s\t%d\t%d\n", n.Node, t.Name, p.Name, p.Type, yesNo(p.Receive), p.SendRefs,
					yesNo(p.SendOnce), p.DeadRefs, p.Members)
			}
		}
	}
	return tw.Flush()
}

// b2f is 1 for true, 0 for false.
func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// kernelTaskNames are NODE/TASK for each kernel task (-o name).
func kernelTaskNames(all []nodeKernelTasks) []string {
	var names []string
	for _, n := range all {
		for _, t := range n.Tasks {
			names = append(names, n.Node+"/"+t.Name)
		}
	}
	return names
}
