package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/task"
)

// The live view's selection: tab (or down, j) and shift+tab (or up, k)
// move it over the pair's nodes then its tasks; enter opens a detail pane
// on the one selected (a node's banks, link and last takeover; a task's
// progress, checkpoints, restarts and recovery units) and closes it; esc
// closes the pane (and quits when none is open).

// watchItem is what the view can select: a node (by name) or a task
// (BANK/ID).
type watchItem struct {
	kind string // "node" or "task"; "" selects nothing
	key  string
}

// watchKeys is the help line of the live view.
const watchKeys = "tab/up/down select  enter details  esc close  q quit"

// itemsOf are the items of f in the order the view lists them: nodes,
// then tasks.
func itemsOf(f watchFrame) []watchItem {
	var items []watchItem
	for _, r := range f.Nodes {
		items = append(items, watchItem{kind: "node", key: r.Node})
	}
	for _, t := range f.Tasks {
		items = append(items, watchItem{kind: "task", key: taskKey(t.Bank, t.ID)})
	}
	return items
}

// moveSelection is the item step places (1 next, -1 previous, wrapping)
// from cur among f's; from an item no longer there it starts again at
// the first.
func moveSelection(f watchFrame, cur watchItem, step int) watchItem {
	items := itemsOf(f)
	if len(items) == 0 {
		return watchItem{}
	}
	for i, it := range items {
		if it == cur {
			return items[(i+step+len(items))%len(items)]
		}
	}
	return items[0]
}

// detailSection is the pane on the selected item of f (ok false when it
// is no longer in the frame).
func detailSection(f watchFrame, sel watchItem) (viewSection, bool) {
	switch sel.kind {
	case "node":
		for _, r := range f.Nodes {
			if r.Node == sel.key {
				return viewSection{title: "NODE " + r.Node, lines: nodeDetail(r, f)}, true
			}
		}
	case "task":
		for _, t := range f.Tasks {
			if taskKey(t.Bank, t.ID) == sel.key {
				return viewSection{title: "TASK " + sel.key, lines: taskDetail(t, f)}, true
			}
		}
	}
	return viewSection{}, false
}

// nodeDetail is a node's pane: its process and link, each bank it holds
// and its last takeover.
func nodeDetail(r statusRow, f watchFrame) []string {
	s := r.Status
	if s == nil {
		return []string{"  not running: " + firstLine(r.Error)}
	}
	link := fmt.Sprintf("link to %s up since %s", s.Partner, clock(s.LinkedAt))
	if !s.Linked {
		link = fmt.Sprintf("link to %s down since %s: %s", s.Partner, clock(s.LostAt), firstLine(s.LastCause))
	}
	lines := []string{
		fmt.Sprintf("  pid %d, version %s, up %s, epoch %d, links lost %d", s.PID, orDash(s.Version != "", s.Version), f.Time.Sub(s.StartedAt).Round(time.Second), s.Epoch, s.LostCount),
		"  " + link,
	}
	if s.STM == nil {
		return lines
	}
	for _, b := range s.STM.Banks {
		lines = append(lines, "  "+bankDetail(b))
	}
	if t := s.STM.LastTakeover; t != nil {
		lines = append(lines, fmt.Sprintf("  takeover %s: bank %s at %s in %s, detection %s",
			orDash(t.ID != "", t.ID), t.Bank, clock(t.At), t.Total.Round(time.Millisecond), t.Detection.Round(time.Millisecond)))
	} else {
		lines = append(lines, "  takeovers: none")
	}
	return lines
}

// bankDetail is one bank of a node's pane.
func bankDetail(b pair.BankStatus) string {
	if b.Role == pair.RoleBackup {
		return fmt.Sprintf("bank %s backup: the partner's, complete copy %t", b.Name, b.Ready)
	}
	commits := "commits ok"
	if b.CommitsRefused {
		commits = "commits refused"
	}
	return fmt.Sprintf("bank %s %s: %d objs, seq %d, epoch %d, mirror %s, %s", b.Name, b.Role, b.Objects, b.Seq, b.Epoch, orDash(b.Mirror != "", b.Mirror), commits)
}

// taskDetail is a task's pane: where and since when it runs, its
// progress, its checkpoints and its recovery units.
func taskDetail(t task.Record, f watchFrame) []string {
	lines := []string{fmt.Sprintf("  %s on %s, %s since %s, restarts %d, rollbacks %d", t.Program, t.Node, t.State, clock(t.Since), t.Restarts, t.Stats.Rollbacks)}
	for _, p := range f.Progress {
		if p.Activity == "task" && strings.HasPrefix(p.What, "task "+taskKey(t.Bank, t.ID)+" ") {
			lines = append(lines, "  progress "+progressLine(p, f.Time))
		}
	}
	st := t.Stats
	lines = append(lines, fmt.Sprintf("  checkpoints %d this run, %d pages saved, stopped %s, %d skipped (no backup)",
		st.Checkpoints, st.PagesSaved, st.TimeStopped.Round(time.Microsecond), st.Skipped))
	var last *ckptEntry
	for i, e := range f.Checkpoints {
		if e.Bank == t.Bank && e.Task == t.ID && e.Unit == "" {
			last = &f.Checkpoints[i]
		}
	}
	if last != nil {
		lines = append(lines, fmt.Sprintf("  last checkpoint %s: %d pages, stopped %s, progress %d",
			clock(last.Time), last.Pages, last.Duration.Round(time.Microsecond), last.Progress))
	}
	if t.Result != "" || t.Error != "" {
		lines = append(lines, "  result: "+t.Result+t.Error)
	}
	return append(lines, "  recovery units: "+taskUnits(t, f))
}

// taskUnits lists the recovery units of task t (its own, BANK/taskID, and
// its segments' under it) with their RU and phase.
func taskUnits(t task.Record, f watchFrame) string {
	name := task.UnitName(t.Bank, t.ID)
	var units []string
	for _, n := range f.RU {
		for _, h := range n.Hosts {
			for _, u := range h.Units {
				if u.Unit == name || strings.HasPrefix(u.Unit, name+"/") {
					units = append(units, fmt.Sprintf("%s (RU %s, %s)", u.Unit, u.RU, u.Phase))
				}
			}
		}
	}
	if len(units) == 0 {
		return "none running"
	}
	return strings.Join(units, ", ")
}

// clock is t as 15:04:05, or "-" when zero.
func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("15:04:05")
}
