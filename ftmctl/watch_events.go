package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ftm-in-go/ftm/task"
)

// watchEvent is one line of watch's timeline.
type watchEvent struct {
	Time time.Time `json:"time"`
	Node string    `json:"node"`
	What string    `json:"what"`
	Kind string    `json:"kind"` // down, lost, linked, takeover, checkpoint, aborted
}

// watchEvents is how many events the timeline keeps, newest last.
const watchEvents = 6

// eventsOf reads the frame's timeline from what the nodes report: nodes
// down, links lost and relinked, takeovers with their durations, aborted
// recovery units and the latest checkpoints.
func eventsOf(f watchFrame) []watchEvent {
	var evs []watchEvent
	for _, r := range f.Nodes {
		if r.Status == nil {
			evs = append(evs, watchEvent{Time: f.Time, Node: r.Node, Kind: "down", What: r.Error})
			continue
		}
		evs = append(evs, linkEvents(r)...)
		if t := r.Status.STM; t != nil && t.LastTakeover != nil {
			to := t.LastTakeover
			evs = append(evs, watchEvent{Time: to.At, Node: r.Node, Kind: "takeover",
				What: fmt.Sprintf("took over bank %s in %s (detected after %s)", to.Bank, to.Total.Round(time.Millisecond), to.Detection.Round(time.Millisecond))})
		}
	}
	evs = append(evs, abortedUnits(f)...)
	evs = latest(evs, watchEvents-2) // the last two lines go to checkpoints
	for _, e := range f.Checkpoints[max(0, len(f.Checkpoints)-(watchEvents-len(evs))):] {
		what := fmt.Sprintf("checkpoint of task %s (%s), %d pages, stopped %s", taskKey(e.Bank, e.Task), e.Program, e.Pages, e.Duration.Round(time.Microsecond))
		if e.Unit != "" {
			what = fmt.Sprintf("checkpoint of %s: %d units in %s", e.Unit, len(e.Members), e.Duration.Round(time.Microsecond))
		}
		evs = append(evs, watchEvent{Time: e.Time, Node: e.Node, Kind: "checkpoint", What: what})
	}
	return latest(evs, watchEvents)
}

// latest sorts evs by time and keeps the last n.
func latest(evs []watchEvent, n int) []watchEvent {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
	return evs[max(0, len(evs)-n):]
}

// linkEvents are a running node's link loss and its last (re)link.
func linkEvents(r statusRow) []watchEvent {
	s := r.Status
	var evs []watchEvent
	if !s.LostAt.IsZero() {
		evs = append(evs, watchEvent{Time: s.LostAt, Node: r.Node, Kind: "lost",
			What: fmt.Sprintf("lost its link to %s: %s", s.Partner, firstLine(s.LastCause))})
	}
	if s.Linked && !s.LinkedAt.IsZero() && s.LostCount > 0 {
		evs = append(evs, watchEvent{Time: s.LinkedAt, Node: r.Node, Kind: "linked",
			What: fmt.Sprintf("relinked to %s: its banks are protected again once copied", s.Partner)})
	}
	return evs
}

// abortedUnits are, per bank's servers, the recovery units whose previous
// RU aborted (one event per bank, at the time its servers started).
func abortedUnits(f watchFrame) []watchEvent {
	var evs []watchEvent
	for _, n := range f.RU {
		for _, h := range n.Hosts {
			var units []string
			for _, u := range h.Units {
				if strings.HasPrefix(u.LastOutcome, "abort") {
					units = append(units, u.Unit)
				}
			}
			if len(units) > 0 {
				evs = append(evs, watchEvent{Time: h.Since, Node: n.Node, Kind: "aborted",
					What: fmt.Sprintf("servers of bank %s started; RUs aborted: %s", h.Bank, strings.Join(units, ", "))})
			}
		}
	}
	return evs
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// taskBars are the running tasks' done/total bars, with the rate and the
// time left read from their checkpoints (the work done when each was
// taken).
func taskBars(f watchFrame, all []ckptEntry) []progressBar {
	var bars []progressBar
	for _, t := range f.Tasks {
		if t.State != task.StateRunning || t.Stats.Total <= 0 {
			continue
		}
		p := progressBar{Activity: "task", What: fmt.Sprintf("task %s (%s) on %s", taskKey(t.Bank, t.ID), t.Program, t.Node),
			Done: t.Stats.LastProgress, Total: t.Stats.Total}
		p.Rate = workRate(t, all)
		if p.Rate > 0 {
			p.ETA = time.Duration(float64(p.Total-p.Done) / p.Rate * float64(time.Second))
		}
		bars = append(bars, p)
	}
	return bars
}

// workRate is task t's work per second over its current run's checkpoints
// (0 with fewer than two).
func workRate(t task.Record, all []ckptEntry) float64 {
	var first, last *ckptEntry
	for i := range all {
		e := &all[i]
		if e.Bank != t.Bank || e.Task != t.ID || e.Unit != "" || e.Run != t.Restarts {
			continue
		}
		if first == nil {
			first = e
		}
		last = e
	}
	if first == nil || last == first || !last.Time.After(first.Time) {
		return 0
	}
	return float64(last.Progress-first.Progress) / last.Time.Sub(first.Time).Seconds()
}
