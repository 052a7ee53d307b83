package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/examples/primes/sieve"
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
		Use: "run PROGRAM [ARGS...]",
		Example: `  ftmctl run primes              # the paper's 400,000 primes: about 0.4 s of CPU
  ftmctl run primes 12000000     # about 40 s of CPU: time to kill its node and watch
  ftmctl run primes 12000000 && ftmctl wait task alpha/1`,
		Short: "Start a registered program as a stable task on the pair (default node binary: primes [N])",
		Long: fmt.Sprintf(`run starts PROGRAM, one the pair's node binary registered (node.Program; the
default binary's is primes [N]), as a stable task on a node of the pair (the
first node by default): it is recorded in that node's STM bank, checkpointed as
it runs, and restarted from its last checkpoint on the partner if the node dies.

primes [N] is the paper's prime computation (§6.2): it finds the first N primes
(default %d, at most %d) by dividing each candidate by the
primes found so far, the pages of primes being the data it both reads and
writes, and ends with "prime N is P".`, sieve.DefaultN, sieve.MaxN),
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
		Use: "ps",
		Example: `  ftmctl ps
  ftmctl ps -o name             # BANK/ID, as stop, rm and wait take them
  ftmctl ps -o json | jq '.[] | {id, state, result}'`,
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
	if err := checkOutput(output, readFormats...); err != nil {
		return err
	}
	if recs == nil {
		recs = []task.Record{}
	}
	if done, err := emit(w, output, recs, func() []string {
		var names []string
		for _, r := range recs {
			names = append(names, taskKey(r.Bank, r.ID))
		}
		return names
	}); done {
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

func newRmCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "rm BANK/TASK",
		Short: "Remove an ended stable task (done or failed) and its result from its bank",
		Example: `  ftmctl rm n1/1
  ftmctl ps -o name | xargs -n1 ftmctl rm   # every ended task (running ones are refused)`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTasks,
		RunE: func(cmd *cobra.Command, args []string) error {
			return taskAction(cmd, dir, args[0], taskVerb{path: "/rm", done: "removed from"})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", defaultDir(), "the pair's state directory")
	return cmd
}

func newStopCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "stop BANK/TASK",
		Short: "Stop a running stable task for good: it ends failed and is not restarted, here or after a takeover",
		Long: `stop records a running stable task's end in its bank (state failed, error
"task: stopped by the operator"), so a takeover does not run it again, then
cancels it on the node that runs it. While the bank has no backup the stop
is refused and the task runs on. What it computed since its last checkpoint
is lost. 'ftmctl rm' then removes it from the listing.`,
		Example: `  ftmctl stop n1/1
  ftmctl stop n1/1 && ftmctl rm n1/1`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTasks,
		RunE: func(cmd *cobra.Command, args []string) error {
			return taskAction(cmd, dir, args[0], taskVerb{path: "/stop", done: "stopped on"})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", defaultDir(), "the pair's state directory")
	return cmd
}

// taskVerb is what taskAction does: the node's route, and the words that
// report it done.
type taskVerb struct{ path, done string }

// taskAction posts BANK/TASK arg to v.path on the node that lists the task
// and reports what was done ("task n1/1 (primes, failed) stopped on node n1").
func taskAction(cmd *cobra.Command, dir, arg string, v taskVerb) error {
	bank, num, ok := strings.Cut(arg, "/")
	id, err := strconv.ParseUint(num, 10, 64)
	if !ok || err != nil {
		return fmt.Errorf("%q is not BANK/TASK (as ps lists them, e.g. n1/1)", arg)
	}
	node, err := nodeListing(cmd.Context(), dir, bank, id)
	if err != nil {
		return err
	}
	var rec task.Record
	req := map[string]any{"bank": bank, "task": id}
	if err := newControlClient(dir, node).post(cmd.Context(), v.path, req, &rec); err != nil {
		return err
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "task %s/%d (%s, %s) %s node %s\n", bank, id, rec.Program, rec.State, v.done, node)
	return err
}

// nodeListing returns the live node of the pair in dir that lists task id
// of bank: the holder of the bank.
func nodeListing(ctx context.Context, dir, bank string, id uint64) (string, error) {
	l, ok, err := findTask(ctx, dir, bank, id)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("no node of the pair lists task %s/%d (see ps)", bank, id)
	}
	return l.node, nil
}

// taskListing is a task as the live node listing it shows it.
type taskListing struct {
	node string
	rec  task.Record
}

// findTask asks each live node of the pair in dir for its tasks and returns
// the one listing task id of bank (ok false when none does). A node that
// does not answer is skipped; a refused token is an error.
func findTask(ctx context.Context, dir, bank string, id uint64) (taskListing, bool, error) {
	st, err := loadPair(dir)
	if err != nil {
		return taskListing{}, false, err
	}
	for _, n := range st.Nodes {
		if !alive(n.PID) {
			continue
		}
		var recs []task.Record
		if err := newControlClient(dir, n.Name).get(ctx, "/ps", &recs); err != nil {
			if errors.Is(err, errAuth) {
				return taskListing{}, false, err
			}
			continue
		}
		for _, r := range recs {
			if r.Bank == bank && r.ID == id {
				return taskListing{node: n.Name, rec: r}, true, nil
			}
		}
	}
	return taskListing{}, false, nil
}
