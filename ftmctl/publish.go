package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/node/control"
)

func newPublishCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "List and feed published tasks (the second recovery mode)",
		Long: `A published task (registered with node.Published) runs on every bank a node
holds as primary, as BANK/PROGRAM: each message it receives is logged in the
bank before it is handled, and after a crash or a takeover it is restarted
from its last checkpoint and fed its log again; what it re-sends is dropped.

publish ls lists them with their log and checkpoint sizes; publish send
gives one a message and prints its reply.`,
		Example: `  # a node binary of your own registers node.Published("acc", ...); start the pair with it
  ftmctl pair up --exec ./mynode
  ftmctl publish send n1/acc 5     # log the message, handle it, print the reply
  ftmctl publish ls                # incarnations, replayed messages, log and checkpoint sizes
  ftmctl crash n1                  # n2 restarts n1/acc from its checkpoint and replays its log`,
	}
	cmd.AddCommand(newPublishLsCmd(), newPublishSendCmd())
	return cmd
}

func newPublishLsCmd() *cobra.Command {
	var f pairFlags
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List published tasks: node, incarnations, replayed, log and checkpoint sizes",
		Example: `  ftmctl publish ls
  ftmctl publish ls -o json | jq '.[] | {name, replayed}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pn, err := f.runningNodes()
			if err != nil {
				return err
			}
			all := []control.PublishedTask{}
			err = getFromEach(cmd.Context(), pn, "/publish", func(_ string, v []control.PublishedTask) { all = append(all, v...) })
			if err != nil {
				return err
			}
			if done, err := emit(cmd.OutOrStdout(), f.output, all, func() []string { return publishedNames(all) }); done {
				return err
			}
			return printPublished(cmd.OutOrStdout(), all)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&f.node, "node", "", "ask only this node")
	return cmd
}

// publishedNames are the tasks' BANK/PROGRAM names (-o name).
func publishedNames(rows []control.PublishedTask) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Name
	}
	return out
}

func printPublished(w io.Writer, rows []control.PublishedTask) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tTASK\tINCARNATIONS\tHANDLED\tREPLAYED\tSUPPRESSED\tCHECKPOINTS\tLOG\tCHECKPOINT\tERROR")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", r.Node, r.Name, r.Incarnations, r.Handled, r.Replayed,
			r.Suppressed, r.Checkpoints, humanBytes(int64(r.LogBytes)), humanBytes(int64(r.CkptBytes)), r.Error)
	}
	return tw.Flush()
}

func newPublishSendCmd() *cobra.Command {
	var f pairFlags
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "send BANK/PROGRAM BODY",
		Short: "Send BODY to a published task and print its reply",
		Example: `  ftmctl publish send n1/acc 5
  ftmctl publish send n2/pub1 hello`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pn, err := f.runningNodes()
			if err != nil {
				return err
			}
			node, err := publishedHost(cmd, pn, args[0])
			if err != nil {
				return err
			}
			var rep control.PublishSendReply
			req := control.PublishSendRequest{Task: args[0], Body: args[1]}
			if err := newControlClient(f.dir, node).withTimeout(timeout).post(cmd.Context(), "/publish/send", req, &rep); err != nil {
				return err
			}
			if f.output == "json" {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), rep.Reply)
			return err
		},
	}
	f.add(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long the send may take")
	return cmd
}

// publishedHost is the node running the published task name.
func publishedHost(cmd *cobra.Command, pn pairNodes, name string) (string, error) {
	host := ""
	err := getFromEach(cmd.Context(), pn, "/publish", func(node string, v []control.PublishedTask) {
		for _, r := range v {
			if r.Name == name && r.Error == "" {
				host = node
			}
		}
	})
	if err == nil && host == "" {
		err = fmt.Errorf("no running node runs the published task %q (see `ftmctl publish ls`)", name)
	}
	return host, err
}
