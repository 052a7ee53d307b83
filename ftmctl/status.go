package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/pair"
)

// statusRow is one node as `ftmctl status` reports it.
type statusRow struct {
	Node    string      `json:"node"`
	PID     int         `json:"pid"`
	Running bool        `json:"running"`
	Addr    string      `json:"addr"`
	Status  *nodeStatus `json:"status,omitempty"`
	Error   string      `json:"error,omitempty"`
	err     error
}

// authFailure is the first refused row: a wrong secret is an error, not a
// row of the table.
func authFailure(rows []statusRow) error {
	for _, r := range rows {
		if errors.Is(r.err, errAuth) {
			return r.err
		}
	}
	return nil
}

func newStatusCmd() *cobra.Command {
	var dir, output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the pair: nodes, link health, epochs, uptime",
		Long: `status shows each node of the pair: whether it runs, its link to its partner
and the heartbeat's age, whether its own bank is backed up, what it holds of
its partner's bank, and its takeovers. The table fits 80 columns; -o wide adds
the PID, partner, epoch, link losses, uptime, own bank and last takeover.
Under the table: the faults on and where metrics are served; 'note:' lines
(banks whose commits are refused) go to stderr. 'ftmctl health' turns the same into an exit status.`,
		Example: `  ftmctl status
  ftmctl status -o wide
  ftmctl status -o json | jq '.[] | {node, linked: .status.linked}'
  ftmctl status -o name         # one node name per line`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := loadPair(dir)
			if err != nil {
				return err
			}
			rows := make([]statusRow, 0, len(st.Nodes))
			for _, n := range st.Nodes {
				rows = append(rows, queryStatus(cmd, dir, n))
			}
			if err := authFailure(rows); err != nil {
				return err
			}
			return notesToStderr(cmd, func(w io.Writer) error { return printStatus(w, output, rows) })
		},
	}
	addPairFlags(cmd, &dir, &output)
	return cmd
}

func queryStatus(cmd *cobra.Command, dir string, n nodeState) statusRow {
	return queryStatusCtx(cmd.Context(), dir, n)
}

func queryStatusCtx(ctx context.Context, dir string, n nodeState) statusRow {
	row := statusRow{Node: n.Name, PID: n.PID, Addr: n.Addr, Running: alive(n.PID)}
	if !row.Running {
		row.Error = "not running"
		return row
	}
	var s nodeStatus
	if err := newControlClient(dir, n.Name).get(ctx, "/status", &s); err != nil {
		row.Error, row.err = err.Error(), err
		return row
	}
	row.Status = &s
	return row
}

func printStatus(w io.Writer, output string, rows []statusRow) error {
	if err := checkOutput(output, readFormats...); err != nil {
		return err
	}
	switch {
	case structured(output):
		return printStructured(w, output, rows)
	case output == "name":
		for _, r := range rows {
			fmt.Fprintln(w, r.Node)
		}
		return nil
	}
	if err := printStatusTable(w, rows, output == "wide"); err != nil {
		return err
	}
	if err := printStatusNotes(w, rows); err != nil {
		return err
	}
	return printGroup(w, rows) // cluster.go: a cluster's group, nothing for a pair
}

// statusHeaders are the status table's columns: the default ones fit 80
// columns, -o wide has them all.
const (
	statusHeaders     = "NODE\tSTATE\tLINK\tHB AGE\tBACKED UP\tPARTNER BANK\tTAKEOVERS"
	statusWideHeaders = "NODE\tPID\tSTATE\tPARTNER\tLINK\tEPOCH\tLOST\tUPTIME\tHB AGE\tOWN BANK\tBACKED UP\tPARTNER BANK\tTAKEOVERS\tLAST TAKEOVER"
)

func printStatusTable(w io.Writer, rows []statusRow, wide bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, map[bool]string{false: statusHeaders, true: statusWideHeaders}[wide])
	for _, r := range rows {
		if r.Status == nil && wide {
			fmt.Fprintf(tw, "%s\t%d\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\n", r.Node, r.PID, r.Error)
			continue
		}
		if r.Status == nil {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\n", r.Node, r.Error)
			continue
		}
		s := r.Status
		link := linkCell(s) // cluster.go: "up", "down", or a cluster's links up of all
		c := stmColumns(s)
		hb := "-"
		if s.Linked && s.HeartbeatAge > 0 {
			hb = s.HeartbeatAge.Round(time.Millisecond).String()
		}
		if !wide {
			partner, _, _ := strings.Cut(c.partner, ":") // "taken over: N objs, ..." is -o wide's
			fmt.Fprintf(tw, "%s\trunning\t%s\t%s\t%s\t%s\t%s\n", r.Node, link, hb, c.backedUp, partner, c.takeovers)
			continue
		}
		up := time.Since(s.StartedAt).Round(time.Second)
		fmt.Fprintf(tw, "%s\t%d\trunning\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Node, r.PID, s.Partner, link, s.Epoch,
			s.LostCount, up, hb, c.own, c.backedUp, c.partner, c.takeovers, c.last)
	}
	return tw.Flush()
}

// printStatusNotes prints, under the table, the faults on, where metrics
// are served and the banks whose commits are refused.
func printStatusNotes(w io.Writer, rows []statusRow) error {
	for _, r := range rows {
		if r.Status != nil && r.Status.Faults.Partitioned {
			fmt.Fprintf(w, "fault: %s is partitioned from its partner %s (ftmctl heal ends it)\n", r.Node, forMore(r.Status.Faults.PartitionLeft))
		}
		if r.Status != nil && r.Status.Faults.Delay > 0 {
			fmt.Fprintf(w, "fault: %s delays its frames by %s %s\n", r.Node, r.Status.Faults.Delay, forMore(r.Status.Faults.DelayLeft))
		}
		if r.Status != nil && r.Status.MetricsAddr != "" {
			fmt.Fprintf(w, "metrics: %s serves http://%s/metrics\n", r.Node, r.Status.MetricsAddr)
		}
		if refused := refusedBanks(r.Status); len(refused) > 0 {
			fmt.Fprintf(w, "note: %s holds bank %s with no backup attached: its commits are refused (stm.ErrNoBackup) until the partner links\n",
				r.Node, strings.Join(refused, ", "))
		}
	}
	return nil
}

// refusedBanks lists the banks a node holds whose commits are refused.
func refusedBanks(s *nodeStatus) []string {
	if s == nil || s.STM == nil {
		return nil
	}
	var out []string
	for _, b := range s.STM.Banks {
		if b.CommitsRefused {
			out = append(out, b.Name)
		}
	}
	return out
}

// stmCells are a node's STM columns in the status table.
type stmCells struct{ own, backedUp, partner, takeovers, last string }

// stmColumns summarizes the node's banks: its own (objects, last commit
// sequence, whether the partner holds its backup: commits are refused
// until it does), the partner's (held as backup or taken over), and its
// takeovers.
func stmColumns(s *nodeStatus) stmCells {
	c := stmCells{own: "-", backedUp: "-", partner: "-", takeovers: "-", last: "-"}
	if s.STM == nil {
		return c
	}
	c.takeovers = fmt.Sprint(s.STM.Takeovers)
	if t := s.STM.LastTakeover; t != nil {
		c.last = fmt.Sprintf("%s (%s)", t.Total.Round(time.Microsecond), t.Bank)
		if t.Deferred > 0 { // in-doubt groups left to the reliable servers' drivers
			c.last = fmt.Sprintf("%s (%s, %d in doubt left to servers)", t.Total.Round(time.Microsecond), t.Bank, t.Deferred)
		}
	}
	for _, b := range s.STM.Banks {
		switch {
		case b.Name == s.Name && b.Role != pair.RoleBackup:
			c.own = fmt.Sprintf("%d objs, seq %d", b.Objects, b.Seq)
			c.backedUp = yesNo(b.Mirror == pair.MirrorAttached) + " (" + b.Mirror + ")"
		case b.Name == s.Name: // our bank, taken over by the partner: we are its backup
			c.own = "held by partner, backup here"
		case b.Name == s.Partner && b.Role == pair.RoleBackup:
			c.partner = "backup held" + map[bool]string{true: "", false: " (copying)"}[b.Ready]
		case b.Name == s.Partner:
			c.partner = fmt.Sprintf("taken over: %d objs, seq %d, backup %s", b.Objects, b.Seq, b.Mirror)
			if b.InDoubt > 0 {
				c.partner += fmt.Sprintf(", %d groups in doubt", b.InDoubt)
			}
		}
	}
	return c
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// forMore says how long a fault lasts: "for 1.2s more" or "until healed".
func forMore(d time.Duration) string {
	if l := left(true, d); l != "until healed" {
		return "for " + l + " more"
	}
	return "until healed"
}
