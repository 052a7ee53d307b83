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

	"github.com/ftm-in-go/ftm/task"
)

func newCkptCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "ckpt",
		Example: `  ftmctl ckpt log
  ftmctl ckpt now n1/1`,
		Short: "Checkpoints of stable tasks and recovery units: their history, and one on demand",
	}
	cmd.AddCommand(newCkptLogCmd(), newCkptNowCmd())
	return cmd
}

func newCkptLogCmd() *cobra.Command {
	var f pairFlags
	cmd := &cobra.Command{
		Use: "log",
		Example: `  ftmctl ckpt log
  ftmctl ckpt log --node n1 -o json | jq '.[].duration_ns'
  ftmctl ckpt log -o name       # the task or unit of each checkpoint`,
		Short: "Show the checkpoint history of the stable tasks (newest last)",
		Long: `log shows the checkpoints of every stable task that each running node kept
(its last 512): when, which bank and task, who initiated it, how many pages
and bytes went to the backup, and how long the task was stopped.

It also lists the checkpoints of recovery units taken by 'ftmctl ckpt now RU'
(PROGRAM ru, TASK the initiating unit, NUMBER the RU committed): how long the
protocol took, the protocol messages the initiator's node sent (MSGS) and the
RUs committed with it as that node knew them (MEMBERS).

A node learns of checkpoints by reading its task server's statistics every
20ms; two checkpoints within one such interval are one line with N > 1. A
node's history starts when it starts: after a takeover, the survivor's log
shows the restarted task's checkpoints, not the dead node's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pn, err := f.runningNodes()
			if err != nil {
				return err
			}
			var all []ckptEntry
			if err := getFromEach(cmd.Context(), pn, "/ckpt", func(_ string, es []ckptEntry) {
				all = append(all, es...)
			}); err != nil {
				return err
			}
			sort.SliceStable(all, func(i, j int) bool { return all[i].Time.Before(all[j].Time) })
			return printCkptLog(cmd.OutOrStdout(), f.output, all)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&f.node, "node", "", "ask only this node")
	return cmd
}

func printCkptLog(w io.Writer, output string, es []ckptEntry) error {
	if es == nil {
		es = []ckptEntry{}
	}
	if done, err := emit(w, output, es, func() []string {
		var names []string
		for _, e := range es {
			if e.Unit != "" {
				names = append(names, e.Unit)
				continue
			}
			names = append(names, taskKey(e.Bank, e.Task))
		}
		return names
	}); done {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tNODE\tTASK\tPROGRAM\tRUN\tINITIATOR\tN\tNUMBER\tPAGES\tBYTES\tDURATION\tPROGRESS\tMSGS\tMEMBERS")
	for _, e := range es {
		init := e.Initiator
		if e.Awaited {
			init = "ckpt now"
		}
		if e.Unit != "" { // a checkpoint of recovery units
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\t%s\t%d\t%d\t-\t-\t%s\t-\t%d\t%s\n", e.Time.Format("15:04:05.000"), e.Node, e.Unit,
				e.Program, init, e.Count, e.Number, e.Duration.Round(time.Microsecond), e.Msgs, dash(e.Members))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%s\t%s\t%d\t-\t-\n", e.Time.Format("15:04:05.000"), e.Node, taskKey(e.Bank, e.Task),
			e.Program, e.Run, init, e.Count, e.Number, e.Pages, humanBytes(e.Bytes), e.Duration.Round(time.Microsecond), e.Progress)
	}
	return tw.Flush()
}

func newCkptNowCmd() *cobra.Command {
	var dir, output string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use: "now TASK|RU",
		Example: `  ftmctl ckpt now n1/1          # a stable task (BANK/ID, or ID)
  ftmctl ckpt now n1/kv         # the checkpoint protocol, n1/kv initiating
  ftmctl ckpt now kv -o yaml    # kv on every bank`,
		Short: "Take a checkpoint now: of a stable task (ID or BANK/ID) or of a recovery unit (e.g. kv, n1/app)",
		Long: `now takes a checkpoint now and reports it.

For a stable task TASK (its id as 'ftmctl ps' shows it, or BANK/ID when both
banks have a task with that id) the task takes it at its next safe point, as
if its policy had said one was due (a task is checkpointed only on its own
goroutine); 'now' reports pages, bytes, how long the task was stopped, and
how long after the request it came.

For a recovery unit (a unit name as 'ftmctl ru' shows it, e.g. n1/kv or
n2/app; a short name like kv means that unit on every bank) it starts the
checkpoint protocol with that unit as initiator: its current RU commits
together with every RU it depends on, and the unit goes on in a new RU.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, actionFormats...); err != nil {
				return err
			}
			if err := positive("--timeout", timeout); err != nil {
				return err
			}
			st, err := loadPair(dir)
			if err != nil {
				return err
			}
			if !isTaskArg(args[0]) {
				return ckptNowRU(cmd, pairFlags{dir: dir, output: output}, args[0], timeout)
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
			if structured(output) {
				return printStructured(cmd.OutOrStdout(), output, rep)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "task %s (%s) on node %s: checkpoint %d of this run, %d pages, %s, task stopped %s; taken %s after the request\n",
				taskKey(rep.Bank, rep.Task), rep.Program, rep.Node, rep.Number, rep.Pages, humanBytes(rep.Bytes),
				rep.Duration.Round(time.Microsecond), rep.Waited.Round(time.Millisecond))
			return err
		},
	}
	addPairFlags(cmd, &dir, &output, actionFormats...)
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the checkpoint")
	return cmd
}

// isTaskArg says whether arg names a stable task (ID or BANK/ID, ID a
// number) rather than a recovery unit.
func isTaskArg(arg string) bool {
	_, idStr, hasBank := strings.Cut(arg, "/")
	if !hasBank {
		idStr = arg
	}
	_, err := strconv.ParseUint(idStr, 10, 64)
	return err == nil
}

// ckptNowRU checkpoints the recovery units named unit (a full name, or a
// short one matching that unit on every bank).
func ckptNowRU(cmd *cobra.Command, f pairFlags, unit string, timeout time.Duration) error {
	nodes, err := fetchRU(cmd, f.dir, "")
	if err != nil {
		return err
	}
	targets, err := ruTargets(nodes, unit)
	if err != nil {
		return err
	}
	reps := []ruCkptReply{}
	for _, t := range targets {
		var rep ruCkptReply
		c := newControlClient(f.dir, t.node).withTimeout(timeout + 3*time.Second)
		if err := c.post(cmd.Context(), "/ru/ckpt", ruCkptRequest{Unit: t.unit, Timeout: timeout}, &rep); err != nil {
			return err
		}
		reps = append(reps, rep)
	}
	if structured(f.output) {
		return printStructured(cmd.OutOrStdout(), f.output, reps)
	}
	return printRUCkpts(cmd.OutOrStdout(), reps)
}

// ruTarget is a recovery unit and the node that runs it.
type ruTarget struct{ node, unit string }

// ruTargets finds the recovery units named unit on the nodes, or says in
// one line which units there are and which banks' servers are stopped.
func ruTargets(nodes []ruNode, unit string) ([]ruTarget, error) {
	var targets []ruTarget
	var all []string
	for _, n := range nodes {
		for _, h := range n.Hosts {
			for _, u := range h.Units {
				all = append(all, u.Unit)
				if u.Unit == unit || strings.HasSuffix(u.Unit, "/"+unit) {
					targets = append(targets, ruTarget{n.Node, u.Unit})
				}
			}
		}
	}
	if len(targets) > 0 {
		return targets, nil
	}
	sort.Strings(all)
	var stopped []string
	for _, n := range nodes {
		for _, h := range n.Hosts {
			if !h.Running {
				stopped = append(stopped, fmt.Sprintf("; the servers of bank %s on node %s are stopped: %s", h.Bank, n.Node, h.Waiting))
			}
		}
	}
	return nil, fmt.Errorf("unknown task or recovery unit %q (recovery units: %s)%s", unit, listOrNone(all), strings.Join(stopped, ""))
}

// printRUCkpts prints one line per recovery unit checkpointed.
func printRUCkpts(w io.Writer, reps []ruCkptReply) error {
	for _, r := range reps {
		var with []string
		for _, m := range r.Members {
			if m != r.RU {
				with = append(with, m)
			}
		}
		also := ""
		if len(with) > 0 {
			also = " with " + strings.Join(with, ", ")
		}
		if _, err := fmt.Fprintf(w, "recovery unit %s on node %s: RU %s committed%s in %s (%d protocol messages sent by %s); now in RU %s\n",
			r.Unit, r.Node, r.RU, also, r.Took.Round(time.Microsecond), r.Msgs, r.Node, r.NextRU); err != nil {
			return err
		}
	}
	return nil
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
