package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// newRootCmd builds the command tree; every subcommand writes to out and err
// so tests can capture what a user would see.
func newRootCmd(out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "ftmctl",
		Short: "Run and inspect FTM-in-Go nodes",
		Long: `ftmctl runs FTM-in-Go nodes and programs, inspects every layer of a running
node (tasks, ports, recovery units, STM, checkpoints) and injects faults.`,
		Example: `  ftmctl pair up && ftmctl run primes 12000000 && ftmctl watch
  ftmctl crash alpha && ftmctl wait protected && ftmctl health
  source <(ftmctl completion bash)   # completes nodes, tasks, units, -o values`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.AddCommand(newVersionCmd(), newCrashCmd(), newPairCmd(), newClusterCmd(), newStatusCmd(), newLogsCmd(), newRunCmd(), newPsCmd(), newStopCmd(), newRmCmd(), newTaskCmd(), newSTMCmd())
	root.AddCommand(newPortsCmd())
	root.AddCommand(newCkptCmd())
	root.AddCommand(newPartitionCmd())
	root.AddCommand(newSlowCmd())
	root.AddCommand(newHealCmd())
	root.AddCommand(newMetricsCmd())
	root.AddCommand(newWatchCmd())
	root.AddCommand(newEditCmd(), newAttachCmd())
	root.AddCommand(newRUCmd(), newKVCmd(), newCallCmd())
	root.AddCommand(newWaitCmd(), newHealthCmd())
	root.AddCommand(newPublishCmd())
	withVersionFlag(root)
	addCompletions(root)
	withUsageOnBadArgs(root)
	return root
}

// withUsageOnBadArgs makes every command's argument errors say what the
// command takes: "accepts 1 arg(s), received 0 (usage: ftmctl ckpt now
// TASK|RU [flags])" rather than cobra's bare count.
func withUsageOnBadArgs(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return fmt.Errorf("%w (usage: %s)", err, cmd.UseLine())
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		withUsageOnBadArgs(sub)
	}
}
