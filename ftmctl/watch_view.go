package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// viewOpts is how a frame is drawn: the refresh interval it names, the
// screen's size (0: unbounded, as --once prints it), whether states are
// coloured (a terminal) and, in the live view, the item selected, whether
// its detail pane is open and whether the help line of the keys ends the
// screen (watch_select.go).
type viewOpts struct {
	every         time.Duration
	width, height int
	colour        bool
	sel           watchItem
	detail        bool
	keys          bool
}

// viewSection is one block of the view, under its title.
type viewSection struct {
	title string
	lines []string
}

// renderFrame draws a frame as plain text, every section whole.
func renderFrame(f watchFrame, every time.Duration) string {
	return renderView(f, viewOpts{every: every})
}

// renderView draws a frame in o's size: the sections in order of value
// (nodes, the detail pane when open, progress, events, tasks,
// checkpoints, recovery units), each only while the screen has room,
// every line cut at the width, the selected row marked; the help line of
// the keys last when o.keys.
func renderView(f watchFrame, o viewOpts) string {
	head := fmt.Sprintf("ftmctl watch  %s  pair %s  every %s  (q quits)", f.Time.Format("15:04:05"), f.Dir, o.every)
	out := []string{clip(head, o.width), ""}
	if o.keys && o.height > 0 {
		o.height-- // the help line's
	}
	for _, sec := range viewSections(f, o) {
		lines := sec.lines
		if sec.title != "" {
			lines = append([]string{sec.title}, lines...)
		}
		if o.height > 0 {
			room := o.height - len(out) - 1 // a blank line before the section
			if room < 2 {
				break
			}
			lines = lines[:min(len(lines), room)]
		}
		if len(out) > 2 {
			out = append(out, "")
		}
		for _, l := range lines {
			if o.colour && selectedRow(l, sec.title, o.sel) {
				out = append(out, reverse+clip(l, o.width)+reset)
				continue
			}
			out = append(out, paint(clip(l, o.width), sec.title, o.colour))
		}
	}
	if o.keys {
		out = append(out, clip(helpLine(o), o.width))
	}
	return strings.Join(out, "\n") + "\n"
}

// viewSections are f's sections, with the selected item's detail pane
// after the nodes when it is open.
func viewSections(f watchFrame, o viewOpts) []viewSection {
	secs := frameSections(f)
	if !o.detail {
		return secs
	}
	d, ok := detailSection(f, o.sel)
	if !ok {
		return secs
	}
	return append(secs[:1], append([]viewSection{d}, secs[1:]...)...)
}

// helpLine is the keys and the selection.
func helpLine(o viewOpts) string {
	if o.sel.kind == "" {
		return watchKeys
	}
	return fmt.Sprintf("%s  [%s %s]", watchKeys, o.sel.kind, o.sel.key)
}

// selectedRow reports whether line, of the section titled title, is the
// row of the selected item: a node's row of the node table, a task's of
// the task table.
func selectedRow(line, title string, sel watchItem) bool {
	fields := strings.Fields(line)
	switch {
	case len(fields) == 0 || sel.kind == "":
		return false
	case sel.kind == "node" && title == "":
		return fields[0] == sel.key
	case sel.kind == "task" && title == "TASKS" && len(fields) > 2:
		return fields[1]+"/"+fields[2] == sel.key
	}
	return false
}

// frameSections are the frame's blocks in order of value.
func frameSections(f watchFrame) []viewSection {
	text := func(print func(w io.Writer) error) []string {
		var b bytes.Buffer
		_ = print(&b)
		return strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	}
	progress := []string{"  (nothing in progress)"}
	if len(f.Progress) > 0 {
		progress = progress[:0]
	}
	for _, p := range f.Progress {
		progress = append(progress, "  "+progressLine(p, f.Time))
	}
	events := []string{"  (none)"}
	if len(f.Events) > 0 {
		events = events[:0]
	}
	for _, e := range f.Events {
		events = append(events, fmt.Sprintf("  %s  %-6s %s", e.Time.Format("15:04:05"), e.Node, e.What))
	}
	return []viewSection{
		{lines: text(func(w io.Writer) error { return printStatus(w, "table", f.Nodes) })},
		{title: "PROGRESS", lines: progress},
		{title: "EVENTS", lines: events},
		{title: "TASKS", lines: text(func(w io.Writer) error { return printTasks(w, "table", f.Tasks) })},
		{title: "LATEST CHECKPOINTS", lines: text(func(w io.Writer) error { return printCkptLog(w, "table", f.Checkpoints) })},
		{title: "RECOVERY UNITS", lines: text(func(w io.Writer) error { return printRUTable(w, f.RU) })},
	}
}

// progressLine draws one bar with its figures: a task's done/total with
// its rate and time left; a checkpoint's or a state transfer's time.
func progressLine(p progressBar, now time.Time) string {
	if p.Activity == "task" {
		pct := 100 * float64(p.Done) / float64(p.Total)
		eta := "ETA -"
		if p.ETA > 0 {
			eta = "ETA " + p.ETA.Round(time.Second).String()
		}
		return fmt.Sprintf("%s %3.0f%% %d/%d %.0f/s %s  %s", workBar(p.Done, p.Total, 20), pct, p.Done, p.Total, p.Rate, eta, p.What)
	}
	return fmt.Sprintf("%s %s  %s", bar(p, now, 24), p.Elapsed.Round(time.Millisecond), p.What)
}

// workBar draws done of total as [=====-----].
func workBar(done, total int64, width int) string {
	n := int(min(int64(width), int64(width)*done/max(total, 1)))
	return "[" + strings.Repeat("=", n) + strings.Repeat("-", width-n) + "]"
}

// bar draws p as [#####-----]; an activity of unknown length shows a block
// moving with time, an overdue one a full bar marked '!'.
func bar(p progressBar, now time.Time, width int) string {
	cells := []byte(strings.Repeat("-", width))
	switch {
	case p.Of <= 0:
		pos := int(now.UnixMilli()/250) % width
		for i := range 4 {
			cells[(pos+i)%width] = '#'
		}
	default:
		n := min(int(int64(width)*int64(p.Elapsed)/int64(p.Of)), width)
		for i := range n {
			cells[i] = '#'
		}
		if p.Overdue {
			cells[width-1] = '!'
		}
	}
	return "[" + string(cells) + "]"
}

// clip cuts line at width runes (0: no limit).
func clip(line string, width int) string {
	if width <= 0 {
		return line
	}
	r := []rune(line)
	if len(r) <= width {
		return line
	}
	return string(r[:width])
}

// ANSI colours of states.
const (
	red     = "\x1b[31m"
	reverse = "\x1b[7m" // the selected row
	yellow  = "\x1b[33m"
	green   = "\x1b[32m"
	reset   = "\x1b[0m"
)

// paint colours a line of section title by what it says: a dead node, a
// lost link or a takeover red; an unprotected bank, a late checkpoint or
// a fault yellow; a healthy node green.
func paint(line, title string, colour bool) string {
	if !colour {
		return line
	}
	c := ""
	switch {
	case title == "" && (strings.Contains(line, "not running") || strings.Contains(line, " down ")):
		c = red
	case title == "" && (strings.Contains(line, " no (") || strings.HasPrefix(line, "fault:")):
		c = yellow
	case title == "" && strings.Contains(line, " running "):
		c = green
	case title == "EVENTS" && (strings.Contains(line, "took over") || strings.Contains(line, "lost its link") || strings.Contains(line, "not running")):
		c = red
	case title == "EVENTS" && strings.Contains(line, "aborted"):
		c = yellow
	case title == "PROGRESS" && strings.Contains(line, "!]"):
		c = yellow
	}
	if c == "" {
		return line
	}
	return c + line + reset
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	fi, err := file.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// plainSnapshot is watch without a terminal: one frame as text, and a
// note on stderr saying so.
func plainSnapshot(cmd *cobra.Command, fetch func(context.Context) (watchFrame, error), every time.Duration) error {
	f, err := fetch(cmd.Context())
	if err != nil {
		return err
	}
	fmt.Fprintln(cmd.ErrOrStderr(), "note: not a terminal: one snapshot printed (watch --once does the same without this note)")
	_, err = io.WriteString(cmd.OutOrStdout(), renderFrame(f, every))
	return err
}
