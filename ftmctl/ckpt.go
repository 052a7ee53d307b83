package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/servers/task"
)

func newCkptCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ckpt",
		Short: "Checkpoints of stable tasks: their history, and one on demand",
	}
	cmd.AddCommand(newCkptLogCmd(), newCkptNowCmd())
	return cmd
}

func newCkptLogCmd() *cobra.Command {
	var dir, output, node string
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Show the checkpoint history of the stable tasks (newest last)",
		Long: `log shows the checkpoints of every stable task that each running node kept
(its last 512): when, which bank and task, who initiated it, how many pages
and bytes went to the backup, and how long the task was stopped.

A node learns of checkpoints by reading its task server's statistics every
20ms; two checkpoints within one such interval are one line with N > 1. A
node's history starts when it starts: after a takeover, the survivor's log
shows the restarted task's checkpoints, not the dead node's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "table", "json"); err != nil {
				return err
			}
			st, err := loadPair(dir)
			if err != nil {
				return err
			}
			nodes, err := nodesToAsk(st, node)
			if err != nil {
				return err
			}
			var all []ckptEntry
			for _, n := range nodes {
				var es []ckptEntry
				if err := newControlClient(dir, n.Name).get(cmd.Context(), "/ckpt", &es); err != nil {
					return err
				}
				all = append(all, es...)
			}
			sort.SliceStable(all, func(i, j int) bool { return all[i].Time.Before(all[j].Time) })
			return printCkptLog(cmd.OutOrStdout(), output, all)
		},
	}
	addPairFlags(cmd, &dir, &output)
	cmd.Flags().StringVar(&node, "node", "", "ask only this node")
	return cmd
}

func printCkptLog(w io.Writer, output string, es []ckptEntry) error {
	if output == "json" {
		if es == nil {
			es = []ckptEntry{}
		}
		return printJSON(w, es)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tNODE\tTASK\tPROGRAM\tRUN\tINITIATOR\tN\tNUMBER\tPAGES\tBYTES\tDURATION\tPROGRESS")
	for _, e := range es {
		init := e.Initiator
		if e.Awaited {
			init += " (ckpt now)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%s\t%s\t%d\n", e.Time.Format("15:04:05.000"), e.Node, taskKey(e.Bank, e.Task),
			e.Program, e.Run, init, e.Count, e.Number, e.Pages, humanBytes(e.Bytes), e.Duration.Round(time.Microsecond), e.Progress)
	}
	return tw.Flush()
}

func newCkptNowCmd() *cobra.Command {
	var dir, output string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "now TASK",
		Short: "Report the next checkpoint of a running stable task (TASK: ID or BANK/ID)",
		Long: `now waits for the next checkpoint of the running stable task TASK (its id as
'ftmctl ps' shows it, or BANK/ID when both banks have a task with that id)
and reports it: pages, bytes, how long the task was stopped, and how long
after the request it came.

A task is checkpointed only on its own goroutine, at a safe point (Poll)
where its policy says one is due; the task server has no way yet to make a
policy due from outside. So 'now' does not force a checkpoint: on a pair
started by ftmctl the policy takes one at least every 500ms, and 'now'
reports the first one taken after the request.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "table", "json"); err != nil {
				return err
			}
			st, err := loadPair(dir)
			if err != nil {
				return err
			}
			rec, err := findRunningTask(cmd, dir, st, args[0])
			if err != nil {
				return err
			}
			var rep ckptNowReply
			c := newControlClient(dir, rec.Node).withTimeout(timeout + 3*time.Second)
			if err := c.post(cmd.Context(), "/ckpt", ckptNowRequest{Bank: rec.Bank, Task: rec.ID, Timeout: timeout}, &rep); err != nil {
				return err
			}
			if output == "json" {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "task %s (%s) on node %s: checkpoint %d of this run, %d pages, %s, task stopped %s; taken %s after the request, by its policy\n",
				taskKey(rep.Bank, rep.Task), rep.Program, rep.Node, rep.Number, rep.Pages, humanBytes(rep.Bytes),
				rep.Duration.Round(time.Microsecond), rep.Waited.Round(time.Millisecond))
			return err
		},
	}
	addPairFlags(cmd, &dir, &output)
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the checkpoint")
	return cmd
}

// findRunningTask finds the running stable task arg (ID or BANK/ID) on the
// pair's running nodes.
func findRunningTask(cmd *cobra.Command, dir string, st *pairState, arg string) (task.Record, error) {
	bank, idStr, hasBank := strings.Cut(arg, "/")
	if !hasBank {
		idStr, bank = arg, ""
	}
	id, err := strconv.ParseUint(idStr, 10, 64)
	if err != nil || id == 0 {
		return task.Record{}, fmt.Errorf("bad task %q: want ID or BANK/ID, as `ftmctl ps` shows them", arg)
	}
	nodes, err := nodesToAsk(st, "")
	if err != nil {
		return task.Record{}, err
	}
	var matches []task.Record
	var running []string
	for _, n := range nodes {
		var recs []task.Record
		if err := newControlClient(dir, n.Name).get(cmd.Context(), "/ps", &recs); err != nil {
			return task.Record{}, err
		}
		for _, r := range recs {
			if r.State == task.StateRunning {
				running = append(running, taskKey(r.Bank, r.ID))
			}
			if r.ID == id && (bank == "" || r.Bank == bank) {
				matches = append(matches, r)
			}
		}
	}
	switch {
	case len(matches) == 0:
		return task.Record{}, fmt.Errorf("unknown task %q (running stable tasks: %s)", arg, listOrNone(running))
	case len(matches) > 1:
		var keys []string
		for _, m := range matches {
			keys = append(keys, taskKey(m.Bank, m.ID))
		}
		return task.Record{}, fmt.Errorf("task %q is ambiguous: %s (say BANK/ID)", arg, strings.Join(keys, ", "))
	case matches[0].State != task.StateRunning:
		return task.Record{}, fmt.Errorf("task %s is %s: only a running task checkpoints", taskKey(matches[0].Bank, id), matches[0].State)
	}
	return matches[0], nil
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
