package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/task"
)

// Dynamic shell completion ('ftmctl completion bash|zsh|fish'): node
// names from the pair's state file, task ids and recovery units from the
// running nodes, -o values from each command's list (addOutputFlag). A
// pair that is not there completes nothing, silently.

// completionTimeout bounds what a completion asks the nodes.
const completionTimeout = 2 * time.Second

// completionDir is the --dir of the command being completed.
func completionDir(cmd *cobra.Command) string {
	if f := cmd.Flags().Lookup("dir"); f != nil {
		return f.Value.String()
	}
	return defaultDir()
}

// nodeNames are the pair's node names that start with prefix.
func nodeNames(cmd *cobra.Command, prefix string) []string {
	st, err := loadPair(completionDir(cmd))
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range st.Nodes {
		if strings.HasPrefix(n.Name, prefix) {
			out = append(out, n.Name)
		}
	}
	return out
}

// completeNode completes a command's one NODE argument.
func completeNode(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return nodeNames(cmd, prefix), cobra.ShellCompDirectiveNoFileComp
}

// completeNodeFlag completes --node.
func completeNodeFlag(cmd *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
	return nodeNames(cmd, prefix), cobra.ShellCompDirectiveNoFileComp
}

// completeTasks completes a command's one BANK/TASK argument with the
// tasks the running nodes list.
func completeTasks(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return taskKeys(cmd, prefix, nil), cobra.ShellCompDirectiveNoFileComp
}

// taskKeys are the BANK/ID of the tasks the running nodes list that start
// with prefix (and that keep says, when set).
func taskKeys(cmd *cobra.Command, prefix string, keep func(task.Record) bool) []string {
	ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
	defer cancel()
	pn, err := runningNodes(completionDir(cmd), "")
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range pn.nodes {
		var recs []task.Record
		if pn.client(n).get(ctx, "/ps", &recs) != nil {
			continue
		}
		for _, r := range recs {
			if k := taskKey(r.Bank, r.ID); strings.HasPrefix(k, prefix) && (keep == nil || keep(r)) {
				out = append(out, k)
			}
		}
	}
	return out
}

// unitNames are the recovery units the running nodes run that start with
// prefix.
func unitNames(cmd *cobra.Command, prefix string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
	defer cancel()
	pn, err := runningNodes(completionDir(cmd), "")
	if err != nil {
		return nil
	}
	var nodes []ruNode
	for _, n := range pn.nodes {
		var rn ruNode
		if pn.client(n).get(ctx, "/ru", &rn) == nil {
			nodes = append(nodes, rn)
		}
	}
	var out []string
	for _, u := range ruUnitNames(nodes) {
		if strings.HasPrefix(u, prefix) {
			out = append(out, u)
		}
	}
	return out
}

// completeTaskOrUnit completes ckpt now's TASK|RU: running tasks and
// recovery units.
func completeTaskOrUnit(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	running := func(r task.Record) bool { return r.State == task.StateRunning }
	return append(taskKeys(cmd, prefix, running), unitNames(cmd, prefix)...), cobra.ShellCompDirectiveNoFileComp
}

// completeCallServer completes call's BANK/SERVER (its first argument).
func completeCallServer(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return unitNames(cmd, prefix), cobra.ShellCompDirectiveNoFileComp
}

// completeWait completes wait's condition, then the task or node it names.
func completeWait(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	switch {
	case len(args) == 0:
		return []string{"protected", "ready", "task", "node"}, cobra.ShellCompDirectiveNoFileComp
	case len(args) == 1 && args[0] == "task":
		return taskKeys(cmd, prefix, nil), cobra.ShellCompDirectiveNoFileComp
	case len(args) == 1 && args[0] == "node":
		return nodeNames(cmd, prefix), cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// addCompletions gives the commands of the tree under root their dynamic
// completions: every --node flag, and the arguments that name a node, a
// task or a recovery unit.
func addCompletions(root *cobra.Command) {
	args := map[string]cobra.CompletionFunc{
		"ftmctl crash": completeNode, "ftmctl logs": completeNode, "ftmctl metrics": completeNode,
		"ftmctl ckpt now": completeTaskOrUnit, "ftmctl call": completeCallServer, "ftmctl wait": completeWait,
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if f, ok := args[c.CommandPath()]; ok {
			c.ValidArgsFunction = f
		}
		if c.Flags().Lookup("node") != nil {
			_ = c.RegisterFlagCompletionFunc("node", completeNodeFlag)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
