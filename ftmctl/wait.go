package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/task"
)

func newWaitCmd() *cobra.Command {
	var dir string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait protected|ready|task BANK/ID|node NAME",
		Short: "Wait until the pair is protected or ready, a task ended, or a node answers (for scripts)",
		Long: `wait blocks until a condition holds on the pair, then exits 0; after --timeout
it exits 1 with one line saying what was still missing.

  protected     both nodes linked and every bank backed up (its commits accepted)
  ready         protected, and every node's reliable servers answering
  task BANK/ID  the task ended (done; a failed task exits 1 with its error)
  node NAME     the node's process runs and answers on its control socket`,
		Example: `  ftmctl wait ready                      # after pair up --wait 0
  ftmctl crash alpha && ftmctl pair up --wait 0 && ftmctl wait protected --timeout 1m
  ftmctl wait task alpha/1 && ftmctl ps   # until the task's result is in
  ftmctl wait node beta --timeout 5s`,
		Args: waitArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return waitFor(cmd.Context(), dir, args, timeout)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", defaultDir(), "the pair's state directory")
	cmd.Flags().DurationVar(&timeout, "timeout", defaultReadyWait, "how long to wait before giving up (exit 1)")
	return cmd
}

// waitArgs checks a wait condition's words before waiting.
func waitArgs(_ *cobra.Command, args []string) error {
	if len(args) == 0 {
		return errors.New("wait needs a condition: protected, ready, task BANK/ID or node NAME")
	}
	want := map[string]int{"protected": 1, "ready": 1, "task": 2, "node": 2}
	n, ok := want[args[0]]
	if !ok {
		return fmt.Errorf("wait %q: unknown condition (protected, ready, task BANK/ID or node NAME)", args[0])
	}
	if len(args) != n {
		return fmt.Errorf("wait %s takes %d argument(s), got %d", args[0], n-1, len(args)-1)
	}
	if args[0] == "task" {
		if _, _, err := parseTaskRef(args[1]); err != nil {
			return err
		}
	}
	return nil
}

func waitFor(ctx context.Context, dir string, args []string, timeout time.Duration) error {
	var err error
	switch args[0] {
	case "protected":
		err = awaitPair(ctx, dir, awaiting{lvl: levelProtected, timeout: timeout})
	case "ready":
		err = awaitPair(ctx, dir, awaiting{lvl: levelReady, timeout: timeout})
	case "task":
		bank, id, _ := parseTaskRef(args[1])
		err = pollUntil(ctx, timeout, func(ctx context.Context) (string, error) { return taskEnded(ctx, dir, bank, id) })
	case "node":
		if _, err := nodeToRun(dir, args[1]); err != nil {
			return err
		}
		err = pollUntil(ctx, timeout, func(ctx context.Context) (string, error) { return nodeAnswers(ctx, dir, args[1]) })
	}
	if err != nil {
		return fmt.Errorf("wait %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// parseTaskRef splits BANK/ID.
func parseTaskRef(ref string) (string, uint64, error) {
	bank, ids, ok := strings.Cut(ref, "/")
	id, err := strconv.ParseUint(ids, 10, 64)
	if !ok || bank == "" || err != nil {
		return "", 0, fmt.Errorf("task %q: want BANK/ID, as ftmctl ps lists them (e.g. alpha/1)", ref)
	}
	return bank, id, nil
}

// taskEnded says what is missing until task bank/id ended: "" once done;
// a failed task is an error.
func taskEnded(ctx context.Context, dir, bank string, id uint64) (string, error) {
	l, ok, err := findTask(ctx, dir, bank, id)
	if err != nil || !ok {
		return fmt.Sprintf("no answering node lists task %s/%d", bank, id), err
	}
	switch l.rec.State {
	case task.StateDone:
		return "", nil
	case task.StateFailed:
		return "", fmt.Errorf("task %s/%d failed: %s", bank, id, l.rec.Error)
	}
	return fmt.Sprintf("task %s/%d is %s on node %s", bank, id, l.rec.State, l.rec.Node), nil
}

// nodeAnswers says what is missing until node runs and answers.
func nodeAnswers(ctx context.Context, dir, node string) (string, error) {
	st, err := loadPair(dir)
	if err != nil {
		return "", err
	}
	n, err := st.Node(node)
	if err != nil {
		return "", err
	}
	row := queryStatusCtx(ctx, dir, *n)
	if errors.Is(row.err, errAuth) {
		return "", row.err
	}
	if row.Status == nil {
		return fmt.Sprintf("node %s: %s", node, row.Error), nil
	}
	return "", nil
}
