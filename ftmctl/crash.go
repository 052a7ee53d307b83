package main

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/spf13/cobra"
)

func newCrashCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use: "crash NODE",
		Example: `  ftmctl crash alpha && ftmctl wait protected --timeout 1m   # beta takes over
  ftmctl crash alpha; ftmctl health; echo $?                  # 1: degraded`,
		Short: "Kill a node process with SIGKILL (needs a pair started with --allow-faults)",
		Long: `crash kills the named node of the pair with SIGKILL, as a machine crash would:
no shutdown code runs. Its partner detects the death and takes over. The PID
in pair.json is signalled only while it is still that node (its recorded
start time, or its control socket giving that PID).
Refused unless the pair was started with 'ftmctl pair up --allow-faults'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := loadPair(dir)
			if err != nil {
				return err
			}
			if !st.AllowFaults {
				return fmt.Errorf("fault injection is off for this pair (restart it with `ftmctl pair up --allow-faults`)")
			}
			n, err := st.Node(args[0])
			if err != nil {
				return err
			}
			if err := verifyNode(cmd.Context(), dir, n); errors.Is(err, errNotRunning) {
				return fmt.Errorf("node %s (pid %d) is not running", n.Name, n.PID)
			} else if err != nil {
				return refusal(n, err)
			}
			if err := syscall.Kill(n.PID, syscall.SIGKILL); err != nil {
				return fmt.Errorf("kill node %s (pid %d): %w", n.Name, n.PID, err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "node %s (pid %d) killed with SIGKILL\n", n.Name, n.PID)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", defaultDir(), "the pair's state directory")
	return cmd
}
