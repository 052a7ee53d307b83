package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// taskSpelling rewrites the top-level spellings in an example to their
// `ftmctl task` ones.
var taskSpelling = strings.NewReplacer("ftmctl ps", "ftmctl task ls", "ftmctl stop", "ftmctl task stop", "ftmctl rm", "ftmctl task rm")

// newTaskCmd groups the task verbs as `ftmctl task ls|stop|rm`: the same
// commands as the top-level ps, stop and rm (both spellings work), their
// examples written in this one.
func newTaskCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "task",
		Short: "Stable tasks: ls, stop, rm (the same as ps, stop and rm)",
		Example: `  ftmctl task ls
  ftmctl task stop n1/1 && ftmctl task rm n1/1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	ls := newPsCmd()
	ls.Use, ls.Aliases = "ls", []string{"ps"}
	for _, sub := range []*cobra.Command{ls, newStopCmd(), newRmCmd()} {
		sub.Example = taskSpelling.Replace(sub.Example)
		sub.Long = taskSpelling.Replace(sub.Long)
		cmd.AddCommand(sub)
	}
	return cmd
}
