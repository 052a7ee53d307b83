package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/task"
)

// nodeToRun checks that node is one of the pair's in dir and returns it, or
// the pair's first node when node is empty.
func nodeToRun(dir, node string) (string, error) {
	st, err := loadPair(dir)
	if err != nil {
		return "", err
	}
	if node == "" {
		node = st.Nodes[0].Name
	}
	if _, err := st.Node(node); err != nil {
		return "", err
	}
	return node, nil
}

func newRunCmd() *cobra.Command {
	var dir, node string
	cmd := &cobra.Command{
		Use:   "run PROGRAM [ARGS...]",
		Short: "Start a registered program as a stable task on the pair (default node binary: primes [N])",
		Long: `run starts PROGRAM, one the pair's node binary registered (node.Program; the
default binary's is primes [N]), as a stable task on a node of the pair (the
first node by default): it is recorded in that node's STM bank, checkpointed as
it runs, and restarted from its last checkpoint on the partner if the node dies.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			node, err := nodeToRun(dir, node)
			if err != nil {
				return err
			}
			var rec task.Record
			if err := newControlClient(dir, node).post(cmd.Context(), "/run", runRequest{Program: args[0], Args: args[1:]}, &rec); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "task %d (%s) started on node %s\n", rec.ID, rec.Program, node)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", defaultDir(), "the pair's state directory")
	cmd.Flags().StringVar(&node, "node", "", "node to start the task on (default: the first)")
	return cmd
}

func newPsCmd() *cobra.Command {
	var dir, output string
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List stable tasks: node, bank, state, checkpoints, result",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := loadPair(dir)
			if err != nil {
				return err
			}
			var all []task.Record
			for _, n := range st.Nodes {
				if !alive(n.PID) {
					continue
				}
				var recs []task.Record
				if err := newControlClient(dir, n.Name).get(cmd.Context(), "/ps", &recs); err != nil {
					if errors.Is(err, errAuth) {
						return err
					}
					// A node dying right now: list what the other one runs.
					fmt.Fprintf(cmd.ErrOrStderr(), "ftmctl: %v; its tasks are not listed\n", err)
					continue
				}
				all = append(all, recs...)
			}
			return printTasks(cmd.OutOrStdout(), output, all)
		},
	}
	addPairFlags(cmd, &dir, &output)
	return cmd
}

func printTasks(w io.Writer, output string, recs []task.Record) error {
	if output == "json" {
		if recs == nil {
			recs = []task.Record{}
		}
		return printJSON(w, recs)
	}
	if err := checkOutput(output, "table", "json"); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tBANK\tTASK\tPROGRAM\tSTATE\tRESTARTS\tCHECKPOINTS\tPAGES SAVED\tRESULT")
	for _, r := range recs {
		res := r.Result
		if r.Error != "" {
			res = "error: " + r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%d\t%d\t%s\n", r.Node, r.Bank, r.ID, r.Program, r.State, r.Restarts, r.Stats.Checkpoints, r.Stats.PagesSaved, res)
	}
	return tw.Flush()
}
