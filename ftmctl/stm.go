package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/pair"
)

// stmRow is one bank as `ftmctl stm` reports it.
type stmRow struct {
	Node string `json:"node"`
	pair.BankStatus
}

func newSTMCmd() *cobra.Command {
	var dir, output string
	cmd := &cobra.Command{
		Use: "stm",
		Example: `  ftmctl stm
  ftmctl stm -o json | jq '.[] | select(.commits_refused)'`,
		Short: "Show the STM banks each node holds: role, epoch, objects, last commit, mirror",
		Long: `stm lists, for each running node, the STM banks it holds: its own bank and a
taken-over partner bank (primaries, with their mirror state: a primary whose
backup is not attached refuses commits), and the partner's bank it keeps as a
backup (ready once it holds a full copy and could take over).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := loadPair(dir)
			if err != nil {
				return err
			}
			var rows []stmRow
			for _, n := range st.Nodes {
				r := queryStatus(cmd, dir, n)
				if err := authFailure([]statusRow{r}); err != nil {
					return err
				}
				if r.Status == nil || r.Status.STM == nil {
					continue
				}
				for _, b := range r.Status.STM.Banks {
					rows = append(rows, stmRow{Node: n.Name, BankStatus: b})
				}
			}
			return printSTM(cmd.OutOrStdout(), output, rows)
		},
	}
	addPairFlags(cmd, &dir, &output)
	return cmd
}

func printSTM(w io.Writer, output string, rows []stmRow) error {
	if err := checkOutput(output, readFormats...); err != nil {
		return err
	}
	if rows == nil {
		rows = []stmRow{}
	}
	if done, err := emit(w, output, rows, func() []string {
		var names []string
		for _, r := range rows {
			names = append(names, r.Node+"/"+r.Name)
		}
		return names
	}); done {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tBANK\tROLE\tEPOCH\tOBJECTS\tLAST COMMIT\tMIRROR\tCOMMITS")
	for _, r := range rows {
		mirror, commits := r.Mirror, "accepted"
		if r.Role == pair.RoleBackup {
			mirror, commits = "-", "-"
			if r.Ready {
				mirror = "full copy"
			}
		} else if r.CommitsRefused {
			commits = "refused (no backup)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", r.Node, r.Name, r.Role, r.Epoch, r.Objects, r.Seq, mirror, commits)
	}
	return tw.Flush()
}
