package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/node/control"
)

// faultRow is one node's fault switch after a partition, slow or heal.
type faultRow struct {
	Node   string             `json:"node"`
	Faults control.FaultReply `json:"faults"`
}

var errFaultsOff = fmt.Errorf("fault injection is off for this pair (restart it with `ftmctl pair up --allow-faults`)")

func newPartitionCmd() *cobra.Command {
	var f pairFlags
	var d time.Duration
	var isolate string
	cmd := &cobra.Command{
		Use:   "partition",
		Short: "Cut the pair link for a while (needs a pair started with --allow-faults)",
		Long: `partition cuts the link between the two nodes for --for (0: until 'ftmctl heal'):
each node holds every frame it would send and every frame it receives, and
refuses new links from or to its partner, like a network that drops packets
while TCP retransmits. If the partition outlasts the failure detector (20
heartbeat periods), each node declares its partner dead and takes its bank
over; the pair relinks when the partition ends. Shorter, nothing is lost:
the held frames flow again. --node cuts only that node's side (the link is
cut all the same). With a witness the group's consensus traffic between
the two nodes is cut as well, and each can still reach the witness. In a
cluster a node's side cuts its links to every peer and its consensus traffic
to and from every other node ('ftmctl status' shows both as fault lines).

--isolate NODE cuts NODE from every other member instead: the pair link
and its consensus traffic to and from its partner and the witness. NODE
loses its lease (it stops committing alone and stops its stable tasks)
before the others may take its banks over. Refused unless the pair was
started with 'ftmctl pair up --allow-faults'.`,
		Example: "  ftmctl partition --for 2s\n  ftmctl partition --for 0 && ftmctl heal\n  ftmctl partition --isolate alpha --for 5s",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if d < 0 {
				return fmt.Errorf("--for must not be negative, got %s", d)
			}
			if isolate != "" {
				return isolateNode(cmd, f, isolate, d)
			}
			return injectFault(cmd, f, faultRequest{Kind: "partition", For: d})
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&f.node, "node", "", "cut only this node's side")
	cmd.Flags().StringVar(&isolate, "isolate", "", "cut this node from every other member (partner and witness)")
	cmd.MarkFlagsMutuallyExclusive("node", "isolate")
	cmd.Flags().DurationVar(&d, "for", 5*time.Second, "how long the partition lasts (0: until ftmctl heal)")
	return cmd
}

func newSlowCmd() *cobra.Command {
	var f pairFlags
	var delay, d time.Duration
	cmd := &cobra.Command{
		Use:   "slow --delay D",
		Short: "Delay every frame on the pair link (needs a pair started with --allow-faults)",
		Long: `slow holds every frame a node sends on the pair link for --delay before it goes
out, in order, for --for (0: until 'ftmctl heal'); by default both nodes, so
a round trip takes two delays longer. A delay longer than the failure
detector's timeout (20 heartbeat periods) makes the nodes declare each other
dead. Refused unless the pair was started with 'ftmctl pair up --allow-faults'.`,
		Example: "  ftmctl slow --delay 20ms --for 10s",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if delay <= 0 {
				return fmt.Errorf("--delay must be positive, got %s", delay)
			}
			if d < 0 {
				return fmt.Errorf("--for must not be negative, got %s", d)
			}
			return injectFault(cmd, f, faultRequest{Kind: "slow", Delay: delay, For: d})
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&f.node, "node", "", "slow only this node's sends")
	cmd.Flags().DurationVar(&delay, "delay", 0, "delay added to every frame sent (required)")
	cmd.Flags().DurationVar(&d, "for", 30*time.Second, "how long the delay lasts (0: until ftmctl heal)")
	_ = cmd.MarkFlagRequired("delay")
	return cmd
}

func newHealCmd() *cobra.Command {
	var f pairFlags
	cmd := &cobra.Command{
		Use: "heal",
		Example: `  ftmctl heal
  ftmctl heal --node alpha`,
		Short: "End a partition or delay started by ftmctl partition or slow",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return injectFault(cmd, f, faultRequest{Kind: "heal"})
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&f.node, "node", "", "heal only this node")
	return cmd
}

// injectFault sends req to the chosen running nodes and prints their state.
func injectFault(cmd *cobra.Command, f pairFlags, req faultRequest) error {
	if err := checkOutput(f.output, readFormats...); err != nil {
		return err
	}
	st, err := loadPair(f.dir)
	if err != nil {
		return err
	}
	if !st.AllowFaults {
		return errFaultsOff
	}
	nodes, err := nodesToAsk(st, f.node)
	if err != nil {
		return err
	}
	var rows []faultRow
	for _, n := range nodes {
		var fs control.FaultReply
		if err := newControlClient(f.dir, n.Name).post(cmd.Context(), "/fault", consensusCut(st, n.Name, req), &fs); err != nil {
			return err
		}
		rows = append(rows, faultRow{Node: n.Name, Faults: fs})
	}
	return printFaults(cmd.OutOrStdout(), f.output, rows)
}

// consensusCut is req for node: a cluster's partition cuts the node's
// consensus traffic to and from every other node, as it cuts its links to
// them (a pair's node cuts its partner's by default; --isolate names every
// member).
func consensusCut(st *pairState, node string, req faultRequest) faultRequest {
	if req.Kind != "partition" || req.Members != nil || len(st.Nodes) <= 2 {
		return req
	}
	for _, p := range st.Peers(node) {
		req.Members = append(req.Members, p.Name)
	}
	return req
}

func printFaults(w io.Writer, output string, rows []faultRow) error {
	if done, err := emit(w, output, rows, func() []string {
		var names []string
		for _, r := range rows {
			names = append(names, r.Node)
		}
		return names
	}); done {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPARTITIONED\tFOR\tDELAY\tFOR")
	for _, r := range rows {
		f := r.Faults
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Node, yesNo(f.Partitioned), left(f.Partitioned, f.PartitionLeft),
			orDash(f.Delay > 0, f.Delay.String()), left(f.Delay > 0, f.DelayLeft))
	}
	return tw.Flush()
}

func left(on bool, d time.Duration) string {
	switch {
	case !on:
		return "-"
	case d > 24*time.Hour:
		return "until healed"
	}
	return d.Round(time.Millisecond).String()
}

func orDash(ok bool, s string) string {
	if ok {
		return s
	}
	return "-"
}
