package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/examples/primes/sieve"
	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// taskPolicy checkpoints a node's stable tasks at every power of two of
// their work (the paper's policy) and at least twice a second.
var taskPolicy = task.Policy{PowerOfTwo: true, Every: 500 * time.Millisecond}

// programs are the stable tasks every node can run (both nodes of a pair
// carry the same code).
func programs() map[string]task.Program {
	return map[string]task.Program{"primes": runPrimes}
}

// runPrimes: primes [N] — the paper's prime computation.
func runPrimes(ctx context.Context, t *task.Task, args []string) (string, error) {
	n := 400000
	if len(args) > 0 {
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 1 {
			return "", fmt.Errorf("primes: N must be a positive number, got %q", args[0])
		}
		n = v
	}
	nth, err := sieve.Compute(ctx, t, n, false)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("prime %d is %d", n, nth), nil
}

type runRequest struct {
	Program string   `json:"program"`
	Args    []string `json:"args"`
}

// taskRoutes serves POST /run and GET /ps on the control socket.
func taskRoutes(node string, stable *pair.Stable, tasks *task.Server) func(*http.ServeMux) {
	return func(mux *http.ServeMux) {
		mux.HandleFunc("POST /run", func(w http.ResponseWriter, r *http.Request) {
			var req runRequest
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
				http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
				return
			}
			bank := stable.Own()
			if bank == nil {
				http.Error(w, "node "+node+" holds no bank of its own (it rejoined empty); run the task on its partner", http.StatusConflict)
				return
			}
			rec, err := tasks.Start(r.Context(), task.Bank{Name: node, STM: bank}, req.Program, req.Args)
			switch {
			case errors.Is(err, task.ErrUnknownProgram):
				http.Error(w, err.Error(), http.StatusNotFound)
			case errors.Is(err, stm.ErrNoBackup):
				http.Error(w, "node "+node+" has no backup attached, so it cannot record a stable task (is its partner up?)", http.StatusConflict)
			case err != nil:
				http.Error(w, err.Error(), http.StatusInternalServerError)
			default:
				writeJSON(w, rec)
			}
		})
		mux.HandleFunc("GET /ps", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, tasks.List()) })
	}
}

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
	if _, err := st.node(node); err != nil {
		return "", err
	}
	return node, nil
}

func newRunCmd() *cobra.Command {
	var dir, node string
	cmd := &cobra.Command{
		Use:   "run PROGRAM [ARGS...]",
		Short: "Start a program as a stable task on the pair (programs: primes [N])",
		Long: `run starts PROGRAM as a stable task on a node of the pair (the first node by
default): it is recorded in that node's STM bank, checkpointed as it runs, and
restarted from its last checkpoint on the partner if the node dies.`,
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
