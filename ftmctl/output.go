package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// checkOutput refuses an -o value not in allowed (the first is the default).
func checkOutput(output string, allowed ...string) error {
	if output == "" || slices.Contains(allowed, output) {
		return nil
	}
	return fmt.Errorf("unknown output format %q (want %s)", output, strings.Join(allowed, " or "))
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// readFormats are the -o values of every command that reads: a table that
// fits 80 columns, the wide table with every column, JSON, YAML (the same
// fields as JSON, keys sorted), and one name per line (what other
// commands take as an argument).
var readFormats = []string{"table", "wide", "json", "yaml", "name"}

// actionFormats are the -o values of a command that acts (call, kv, ckpt
// now, faults, version): its reply as a line, JSON or YAML.
var actionFormats = []string{"table", "json", "yaml"}

// emit prints v as JSON or YAML, or the names of its objects for -o name,
// and reports whether it did; the caller prints its table otherwise.
func emit(w io.Writer, output string, v any, names func() []string) (bool, error) {
	switch {
	case structured(output):
		return true, printStructured(w, output, v)
	case output == "name":
		return true, printNames(w, names())
	}
	return false, nil
}

// structured reports whether -o asks for JSON or YAML.
func structured(output string) bool { return output == "json" || output == "yaml" }

// printStructured prints v as JSON or YAML. YAML carries JSON's field names
// and values (durations as JSON has them): v goes through JSON first.
func printStructured(w io.Writer, output string, v any) error {
	if output != "yaml" {
		return printJSON(w, v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // integers stay integers (nanoseconds, sequences)
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return err
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(numbersOf(generic)); err != nil {
		return err
	}
	return enc.Close()
}

// numbersOf replaces the json.Numbers in v by int64 or float64 values.
func numbersOf(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbersOf(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbersOf(e)
		}
	}
	return v
}

// printNames prints one name per line (-o name).
func printNames(w io.Writer, names []string) error {
	for _, n := range names {
		if _, err := fmt.Fprintln(w, n); err != nil {
			return err
		}
	}
	return nil
}

// addPairFlags adds --dir and -o to cmd; -o takes formats (default:
// readFormats), the first being the default.
func addPairFlags(cmd *cobra.Command, dir, output *string, formats ...string) {
	cmd.Flags().StringVar(dir, "dir", defaultDir(), "the pair's state directory")
	if len(formats) == 0 {
		formats = readFormats
	}
	addOutputFlag(cmd, output, formats[0], formats...)
}

// addOutputFlag adds -o to cmd with its default and the formats it
// takes, which shell completion offers.
func addOutputFlag(cmd *cobra.Command, output *string, def string, formats ...string) {
	cmd.Flags().StringVarP(output, "output", "o", def, "output format: "+strings.Join(formats, ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
}

// pairFlags are the flags of a command that asks the pair's nodes: the
// pair's state directory, the output format and, when not empty, the one
// node to ask.
type pairFlags struct {
	dir, output, node string
}

// add adds --dir and -o to cmd (--node, whose help differs, is the
// command's).
func (f *pairFlags) add(cmd *cobra.Command) { addPairFlags(cmd, &f.dir, &f.output) }

// pairNodes are the running nodes of the pair in dir that a command asks.
type pairNodes struct {
	dir   string
	nodes []nodeState
}

// runningNodes checks -o and returns the running nodes to ask (only f.node
// when set).
func (f *pairFlags) runningNodes() (pairNodes, error) {
	if err := checkOutput(f.output, readFormats...); err != nil {
		return pairNodes{}, err
	}
	return runningNodes(f.dir, f.node)
}

// client is the control client of node n.
func (pn pairNodes) client(n nodeState) *controlClient { return newControlClient(pn.dir, n.Name) }

// nodesToAsk returns the pair's running nodes, or only the one named (an
// error if it is unknown or not running).
func nodesToAsk(st *pairState, only string) ([]nodeState, error) {
	if only != "" {
		n, err := st.Node(only)
		if err != nil {
			return nil, err
		}
		if !alive(n.PID) {
			return nil, fmt.Errorf("node %s (pid %d) is not running", n.Name, n.PID)
		}
		return []nodeState{*n}, nil
	}
	var out []nodeState
	for _, n := range st.Nodes {
		if alive(n.PID) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no node of the pair is running (start it with `ftmctl pair up`)")
	}
	return out, nil
}

// humanBytes prints n bytes in KiB/MiB.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// runningNodes loads the pair in dir and returns its running nodes, or only
// the one named.
func runningNodes(dir, only string) (pairNodes, error) {
	st, err := loadPair(dir)
	if err != nil {
		return pairNodes{}, err
	}
	nodes, err := nodesToAsk(st, only)
	return pairNodes{dir: dir, nodes: nodes}, err
}

// getFromEach GETs path from each node's control endpoint and hands the
// answers to use in node order; the first failure ends it.
func getFromEach[T any](ctx context.Context, pn pairNodes, path string, use func(node string, v T)) error {
	for _, n := range pn.nodes {
		var v T
		if err := pn.client(n).get(ctx, path, &v); err != nil {
			return err
		}
		use(n.Name, v)
	}
	return nil
}
