package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"time"

	"github.com/spf13/cobra"
)

func newLogsCmd() *cobra.Command {
	var dir, since, takeover string
	var follow bool
	cmd := &cobra.Command{
		Use: "logs [NODE]",
		Example: `  ftmctl logs                       # both nodes' logs merged in time order
  ftmctl logs alpha --since 5m
  ftmctl logs -f | jq -r 'select(.level=="warn") | [.node, .msg] | @tsv'
  ftmctl logs --since 2026-12-07T08:00:00Z
  ftmctl logs --takeover 3fa9c1d2           # one takeover, detection to servers answering`,
		Short: "Print the nodes' structured (JSON lines) logs, merged in time order; -f follows them",
		Long: `logs prints NODE's log, or without NODE every node's log merged in time
order (each line carries its node in the "node" field). --since keeps the
lines from a time on: a duration back from now (5m, 1h30m) or an RFC 3339
time. -f keeps printing lines as the nodes write them, until Ctrl-C.
--takeover ID keeps the lines of one takeover: the partner's death
detected ("partner lost"), its bank taken over, its stable tasks restarted
and its reliable servers running again each carry the same id in their
"takeover_id" field (the same as: ftmctl logs | jq -c 'select(.takeover_id=="ID")');
the id is on the survivor's "partner lost" line, in status -o json
(.status.stm.last_takeover.id) and in watch's node pane (Tab to the node, Enter).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, err := parseSince(since, time.Now())
			if err != nil {
				return err
			}
			if takeover != "" && !takeoverIDPattern.MatchString(takeover) {
				return fmt.Errorf("%w: --takeover wants a takeover id, 8 hex digits (status -o json: .status.stm.last_takeover.id), got %q", errFlagRange, takeover)
			}
			only := ""
			if len(args) == 1 {
				only = args[0]
			}
			files, err := openLogs(dir, only)
			if err != nil {
				return err
			}
			defer func() {
				for _, f := range files {
					f.Close()
				}
			}()
			return mergeLogs(cmd.Context(), cmd.OutOrStdout(), files, logOpts{from: from, follow: follow, takeover: takeover})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", defaultDir(), "the pair's state directory")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing lines as the nodes write them (Ctrl-C to stop)")
	cmd.Flags().StringVar(&takeover, "takeover", "", `only the lines of the takeover with this id (their "takeover_id" field)`)
	cmd.Flags().StringVar(&since, "since", "", "only lines from this time on: a duration back from now (5m) or an RFC 3339 time")
	return cmd
}

// takeoverIDPattern is the form of a takeover's log id (internal/takeoverid).
var takeoverIDPattern = regexp.MustCompile(`^[0-9a-f]{8}$`)

// parseSince reads --since: "" (from the start), a duration back from now,
// or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%w: --since must not be negative, got %s", errFlagRange, s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: want a duration (5m) or an RFC 3339 time (2026-12-07T08:00:00Z)", s)
	}
	return t, nil
}

// openLogs opens the log of node only, or of every node of the pair in
// dir that has one.
func openLogs(dir, only string) ([]*os.File, error) {
	st, err := loadPair(dir)
	if err != nil {
		return nil, err
	}
	nodes := st.Nodes
	if only != "" {
		n, err := st.Node(only)
		if err != nil {
			return nil, err
		}
		nodes = []nodeState{*n}
	}
	var files []*os.File
	for _, n := range nodes {
		f, err := os.Open(n.Log)
		if err != nil && only != "" {
			return nil, fmt.Errorf("node %s has no log yet: %w", n.Name, err)
		}
		if err == nil {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no node of the pair in %s has a log yet", dir)
	}
	return files, nil
}

// logOpts are what mergeLogs prints: lines from a time on, and whether it
// goes on as the logs grow.
type logOpts struct {
	from     time.Time
	follow   bool
	takeover string // when set, only the lines of this takeover
}

// logLine is one line of a node's log and its time ("ts": seconds since
// the epoch, as the nodes' zap loggers write it).
type logLine struct {
	ts       float64
	takeover string // its "takeover_id" field
	text     []byte
}

// mergeLogs prints the complete lines of the logs rs, merged in time order
// (a line without a time keeps its place after the line before it); when
// following, it polls for more until ctx ends, merging each batch.
func mergeLogs(ctx context.Context, w io.Writer, rs []*os.File, o logOpts) error {
	readers := make([]*logReader, len(rs))
	for i, r := range rs {
		readers[i] = &logReader{r: bufio.NewReader(r)}
	}
	for {
		var batch []logLine
		for _, lr := range readers {
			lines, err := lr.next()
			if err != nil {
				return err
			}
			batch = append(batch, lines...)
		}
		if err := printLines(w, batch, o); err != nil {
			return err
		}
		if !o.follow {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil
			}
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// printLines writes the lines at or after o.from (of takeover
// o.takeover, when set), in time order.
func printLines(w io.Writer, lines []logLine, o logOpts) error {
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].ts < lines[j].ts })
	min := float64(o.from.UnixNano()) / 1e9
	if o.from.IsZero() {
		min = math.Inf(-1)
	}
	for _, l := range lines {
		if l.ts < min || (o.takeover != "" && l.takeover != o.takeover) {
			continue
		}
		if _, err := w.Write(l.text); err != nil {
			return err
		}
	}
	return nil
}

// logReader reads one log's complete lines, keeping a partial last line
// for the next read.
type logReader struct {
	r       *bufio.Reader
	partial []byte
	lastTS  float64
}

// next returns the complete lines written since the last call.
func (lr *logReader) next() ([]logLine, error) {
	var out []logLine
	for {
		b, err := lr.r.ReadBytes('\n')
		lr.partial = append(lr.partial, b...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		text := lr.partial
		lr.partial = nil
		var rec struct {
			TS       *float64 `json:"ts"`
			Takeover string   `json:"takeover_id"`
		}
		if json.Unmarshal(bytes.TrimSpace(text), &rec) == nil && rec.TS != nil {
			lr.lastTS = *rec.TS
		}
		out = append(out, logLine{ts: lr.lastTS, takeover: rec.Takeover, text: text})
	}
}
