package main

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
)

// nodeMetricsRow is one node's metric families for -o json.
type nodeMetricsRow struct {
	Node     string         `json:"node"`
	Families []metricFamily `json:"metrics"`
}

func newMetricsCmd() *cobra.Command {
	var dir, output string
	cmd := &cobra.Command{
		Use: "metrics [NODE]",
		Example: `  ftmctl metrics | promtool check metrics
  ftmctl metrics alpha | grep ftm_pair_
  ftmctl metrics -o table
  curl -s http://127.0.0.1:9100/readyz   # with pair up --metrics-addr 127.0.0.1:9100`,
		Short: "Print the nodes' figures as one Prometheus exposition (or a table, JSON, YAML)",
		Long: `metrics prints what each running node (or only NODE) exports to Prometheus:
its pair link, takeovers (with a duration histogram), STM banks (commit
latency, refused commits, state transfers), stable tasks and checkpoints,
reliable servers' recovery units and calls, control requests, and the Go
runtime and process. -o prom (the default) prints one exposition in the Prometheus
text format: with NODE, that node's as a scraper gets it; without, every
running node's merged, each sample labelled with its node (both pass
'promtool check metrics'). -o table prints one sample per line; -o json
the families. docs/metrics.md describes every family.

Nodes serve the same at http://ADDR/metrics, with /healthz and /readyz,
when started with 'ftmctl pair up --metrics-addr 127.0.0.1:0' ('ftmctl
status -o json' shows each node's metrics_addr): on the loopback, or on any
address with TLS and basic auth through --web-config-file.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, metricsFormats...); err != nil {
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
				return printPromMetrics(cmd, pn, only)
			}
			var rows []nodeMetricsRow
			if err := getFromEach(cmd.Context(), pn, "/metrics.json", func(name string, fams []metricFamily) {
				rows = append(rows, nodeMetricsRow{Node: name, Families: fams})
			}); err != nil {
				return err
			}
			if done, err := emit(cmd.OutOrStdout(), output, rows, func() []string { return familyNames(rows) }); done {
				return err
			}
			return printMetricsTable(cmd.OutOrStdout(), rows)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", defaultDir(), "the pair's state directory")
	addOutputFlag(cmd, &output, "prom", metricsFormats...)
	return cmd
}

// printPromMetrics prints one exposition as a scraper would get it: one
// node's as it serves it, or every running node's merged, each sample with
// a node label (the node's name), each family once.
func printPromMetrics(cmd *cobra.Command, pn pairNodes, only string) error {
	w := cmd.OutOrStdout()
	if only != "" {
		b, err := pn.client(pn.nodes[0]).getRaw(cmd.Context(), "/metrics")
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	merged := map[string]*dto.MetricFamily{}
	for _, n := range pn.nodes {
		b, err := pn.client(n).getRaw(cmd.Context(), "/metrics")
		if err != nil {
			return err
		}
		if err := mergeExposition(merged, n.Name, b); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(merged)) {
		if _, err := expfmt.MetricFamilyToText(w, merged[name]); err != nil {
			return err
		}
	}
	return nil
}

// mergeExposition parses one node's exposition into merged, labelling its
// samples node=node (a family's own node label, ftm_node_info's, is kept).
func mergeExposition(merged map[string]*dto.MetricFamily, node string, exposition []byte) error {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(exposition))
	if err != nil {
		return fmt.Errorf("bad exposition: %w", err)
	}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == "node" }) {
				m.Label = append([]*dto.LabelPair{{Name: proto.String("node"), Value: proto.String(node)}}, m.GetLabel()...)
			}
		}
		if have, ok := merged[name]; ok {
			have.Metric = append(have.Metric, f.GetMetric()...)
			continue
		}
		merged[name] = f
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

// metricsFormats are metrics' -o values: the exposition first.
var metricsFormats = []string{"prom", "table", "wide", "json", "yaml", "name"}

// familyNames are the metric families the nodes export, each once (-o name).
func familyNames(rows []nodeMetricsRow) []string {
	seen := map[string]bool{}
	for _, r := range rows {
		for _, f := range r.Families {
			seen[f.Name] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}
