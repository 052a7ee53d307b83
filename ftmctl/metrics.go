package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// nodeMetricsRow is one node's metric families for -o json.
type nodeMetricsRow struct {
	Node     string         `json:"node"`
	Families []metricFamily `json:"metrics"`
}

func newMetricsCmd() *cobra.Command {
	var dir, output string
	cmd := &cobra.Command{
		Use:   "metrics [NODE]",
		Short: "Print the nodes' figures in the Prometheus text format (or as a table or JSON)",
		Long: `metrics prints what each running node (or only NODE) exports to Prometheus:
role and partner, epoch, link state and heartbeat age, takeovers, its STM
banks (objects, bytes, commits, whether commits are refused), its stable
tasks by state, and its checkpoints (count, pages, bytes and a duration
histogram). -o prom (the default) prints each node's exposition as a
scraper gets it (one node's output, with NODE, is one valid scrape);
-o table prints one sample per line; -o json the families.

Nodes serve the same at http://ADDR/metrics when started with
'ftmctl pair up --metrics-addr 127.0.0.1:0' (loopback only; 'ftmctl status
-o json' shows each node's metrics_addr), for Prometheus to scrape.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "prom", "table", "json"); err != nil {
				return err
			}
			only := ""
			if len(args) == 1 {
				only = args[0]
			}
			pn, err := runningNodes(dir, only)
			if err != nil {
				return err
			}
			if output == "prom" || output == "" {
				return printPromMetrics(cmd, pn)
			}
			var rows []nodeMetricsRow
			if err := getFromEach(cmd.Context(), pn, "/metrics.json", func(name string, fams []metricFamily) {
				rows = append(rows, nodeMetricsRow{Node: name, Families: fams})
			}); err != nil {
				return err
			}
			if output == "json" {
				return printJSON(cmd.OutOrStdout(), rows)
			}
			return printMetricsTable(cmd.OutOrStdout(), rows)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", defaultDir(), "the pair's state directory")
	cmd.Flags().StringVarP(&output, "output", "o", "prom", "output format: prom, table or json")
	return cmd
}

// printPromMetrics prints each node's exposition as a scraper gets it,
// under a comment naming the node when there are several.
func printPromMetrics(cmd *cobra.Command, pn pairNodes) error {
	w := cmd.OutOrStdout()
	for _, n := range pn.nodes {
		b, err := pn.client(n).getRaw(cmd.Context(), "/metrics")
		if err != nil {
			return err
		}
		if len(pn.nodes) > 1 {
			fmt.Fprintf(w, "# ftmctl: node %s\n", n.Name)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func printMetricsTable(w io.Writer, rows []nodeMetricsRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tMETRIC\tLABELS\tVALUE")
	for _, r := range rows {
		for _, f := range r.Families {
			for _, s := range f.Samples {
				var labels []string
				for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
					labels = append(labels, k+"="+s.Labels[k])
				}
				value := fmt.Sprintf("%g", s.Value)
				if f.Type == "HISTOGRAM" {
					value = fmt.Sprintf("count %d, sum %g", s.Count, s.Value)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Node, f.Name, orDash(len(labels) > 0, strings.Join(labels, ",")), value)
			}
		}
	}
	return tw.Flush()
}
