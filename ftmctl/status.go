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
		Short: "Show the pair or cluster: nodes, link health, epochs, uptime",
		Long: `status shows each node of the pair: whether it runs, its link to its partner
and the heartbeat's age, whether its own bank is backed up, what it holds of
its partner's bank, and its takeovers. The table fits 80 columns; -o wide adds
the PID, partner, epoch, link losses, uptime, own bank and last takeover.

A cluster's node has a link to every peer, so its columns say what holds for
all of them: LINKS (peer links up of all), HB AGE (the oldest heartbeat of a
linked peer), PEER BANKS (every other node's bank it holds: backup, or taken
over) and, with -o wide, PEERS, LOST (losses of all its links) and a table of
every link (state, epoch, losses, heartbeat age); under it the group: leader,
members, leases and every bank's primary, backup and protection. In -o json
.status.peers has every link with its heartbeat_age_ns (the top-level link
fields are the first peer's).

Under the table: the faults on (a partition of the links, a delay, the
consensus traffic cut by 'ftmctl partition') and where metrics are served;
'note:' lines (banks whose commits are refused, a cluster's link down between
two running nodes) go to stderr. 'ftmctl health' turns the same into an exit status.`,
		Example: `  ftmctl status
  ftmctl status -o wide
  ftmctl status -o json | jq '.[] | {node, linked: .status.linked}'
  ftmctl status -o name         # one node name per line`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, readFormats...); err != nil { // before the pair: a typo is the first thing to say
				return err
			}
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

// The status table's columns: the default ones fit 80 columns, -o wide
// has them all. A cluster's node has peers, not a partner: LINKS counts its
// peer links up, HB AGE is the oldest heartbeat of its linked peers, PEER
// BANKS lists every other node's bank it holds (-o wide adds a table of
// every link under it).
var (
	statusHeaders            = []string{"NODE", "STATE", "LINK", "HB AGE", "BACKED UP", "PARTNER BANK", "TAKEOVERS"}
	statusWideHeaders        = []string{"NODE", "PID", "STATE", "PARTNER", "LINK", "EPOCH", "LOST", "UPTIME", "HB AGE", "OWN BANK", "BACKED UP", "PARTNER BANK", "TAKEOVERS", "LAST TAKEOVER"}
	clusterStatusHeaders     = []string{"NODE", "STATE", "LINKS", "HB AGE", "BACKED UP", "PEER BANKS", "TAKEOVERS"}
	clusterStatusWideHeaders = []string{"NODE", "PID", "STATE", "PEERS", "LINKS", "LOST", "UPTIME", "HB AGE", "OWN BANK", "BACKED UP", "PEER BANKS", "TAKEOVERS", "LAST TAKEOVER"}
)

// statusColumns are the table's headers for a pair or a cluster.
func statusColumns(cluster, wide bool) []string {
	switch {
	case cluster && wide:
		return clusterStatusWideHeaders
	case cluster:
		return clusterStatusHeaders
	case wide:
		return statusWideHeaders
	}
	return statusHeaders
}

// isCluster reports whether rows are a cluster's nodes (more than two).
func isCluster(rows []statusRow) bool { return len(rows) > 2 }

func printStatusTable(w io.Writer, rows []statusRow, wide bool) error {
	cols := statusColumns(isCluster(rows), wide)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, r := range rows {
		cells := statusCells(r, wide)
		line := make([]string, len(cols))
		for i, c := range cols {
			line[i] = cells[c]
			if line[i] == "" {
				line[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(line, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if wide && isCluster(rows) {
		return printLinks(w, rows) // status_cluster.go
	}
	return nil
}

// statusCells are one row's cells by column header; a column missing is "-".
func statusCells(r statusRow, wide bool) map[string]string {
	cells := map[string]string{"NODE": r.Node, "PID": fmt.Sprint(r.PID), "STATE": r.Error}
	s := r.Status
	if s == nil {
		return cells
	}
	c := stmColumns(s)
	partner, _, _ := strings.Cut(c.partner, ":") // "taken over: N objs, ..." is -o wide's
	if wide {
		partner = c.partner
	}
	hb := "-"
	if s.Linked && s.HeartbeatAge > 0 {
		hb = s.HeartbeatAge.Round(time.Millisecond).String()
	}
	for k, v := range map[string]string{"STATE": "running", "PARTNER": s.Partner, "LINK": linkCell(s), "EPOCH": fmt.Sprint(s.Epoch),
		"LOST": fmt.Sprint(s.LostCount), "UPTIME": time.Since(s.StartedAt).Round(time.Second).String(), "HB AGE": hb,
		"OWN BANK": c.own, "BACKED UP": c.backedUp, "PARTNER BANK": partner, "TAKEOVERS": c.takeovers, "LAST TAKEOVER": c.last} {
		cells[k] = v
	}
	if len(s.Peers) > 0 {
		addClusterCells(cells, s, wide) // status_cluster.go
	}
	return cells
}

// printStatusNotes prints, under the table, the faults on, where metrics
// are served and the banks whose commits are refused.
func printStatusNotes(w io.Writer, rows []statusRow) error {
	for _, r := range rows {
		if r.Status != nil && r.Status.Faults.Partitioned {
			fmt.Fprintf(w, "fault: %s is partitioned from its %s %s (ftmctl heal ends it)\n", r.Node,
				map[bool]string{false: "partner", true: "peers"}[len(r.Status.Peers) > 0], forMore(r.Status.Faults.PartitionLeft))
		}
		if r.Status != nil && len(r.Status.ConsensusCut) > 0 {
			fmt.Fprintf(w, "fault: %s's consensus traffic to and from %s is cut (ftmctl heal ends it)\n", r.Node, strings.Join(r.Status.ConsensusCut, ", "))
		}
		if r.Status != nil && r.Status.Faults.Delay > 0 {
			fmt.Fprintf(w, "fault: %s delays its frames by %s %s\n", r.Node, r.Status.Faults.Delay, forMore(r.Status.Faults.DelayLeft))
		}
		if r.Status != nil && r.Status.MetricsAddr != "" {
			fmt.Fprintf(w, "metrics: %s serves http://%s/metrics\n", r.Node, r.Status.MetricsAddr)
		}
		for _, p := range downPeerLinks(rows, r) { // status_cluster.go
			fmt.Fprintf(w, "note: %s's link to %s is down (both run)\n", r.Node, p)
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
