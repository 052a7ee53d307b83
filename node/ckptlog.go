package node

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ftm-in-go/ftm/node/control"
	"github.com/ftm-in-go/ftm/task"
)

// The node keeps the history of its stable tasks' checkpoints in a ring
// buffer, fed by the task server's per-task statistics: the node polls
// them and turns every increase of a task's checkpoint count into an entry.
// Two checkpoints that fall between two polls make one entry with Count 2.

const (
	ckptLogSize   = 512                   // entries kept per node
	ckptPollEvery = 20 * time.Millisecond // how often the task statistics are read
)

type ckptSeen struct {
	since time.Time // the run of the task (a restart starts its counters again)
	stats task.Stats
}

type ckptLog struct {
	node string

	mu      sync.Mutex // guards the fields below
	ring    []control.CkptEntry
	next    int // where the next entry goes
	seq     uint64
	seen    map[string]ckptSeen
	waiters map[string][]chan control.CkptEntry
}

func newCkptLog(node string, size int) *ckptLog {
	return &ckptLog{node: node, ring: make([]control.CkptEntry, 0, size), seen: map[string]ckptSeen{}, waiters: map[string][]chan control.CkptEntry{}}
}

// run polls list until ctx ends; observe sees every new entry.
func (c *ckptLog) run(ctx context.Context, list func() []task.Record, observe func(control.CkptEntry)) {
	t := time.NewTicker(ckptPollEvery)
	defer t.Stop()
	for {
		for _, e := range c.poll(list()) {
			observe(e)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll records the checkpoints taken since the last poll.
func (c *ckptLog) poll(recs []task.Record) []control.CkptEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	var added []control.CkptEntry
	now := time.Now()
	for _, r := range recs {
		key := control.TaskKey(r.Bank, r.ID)
		prev, ok := c.seen[key]
		if !ok || !prev.since.Equal(r.Since) {
			prev = ckptSeen{since: r.Since}
		}
		c.seen[key] = ckptSeen{since: r.Since, stats: r.Stats}
		n := r.Stats.Checkpoints - prev.stats.Checkpoints
		if n <= 0 {
			continue
		}
		c.seq++
		e := control.CkptEntry{Seq: c.seq, Time: now, Node: c.node, Bank: r.Bank, Task: r.ID, Program: r.Program, Run: r.Restarts,
			Initiator: "policy", Count: n, Number: r.Stats.Checkpoints,
			Pages: r.Stats.PagesSaved - prev.stats.PagesSaved, Bytes: r.Stats.BytesSaved - prev.stats.BytesSaved,
			Duration: r.Stats.TimeStopped - prev.stats.TimeStopped, Progress: r.Stats.LastProgress}
		if ws := c.waiters[key]; len(ws) > 0 {
			e.Awaited = true
			for _, w := range ws {
				w <- e // buffered
			}
			delete(c.waiters, key)
		}
		c.add(e)
		added = append(added, e)
	}
	return added
}

// addRU records a checkpoint of recovery units and returns it as kept.
func (c *ckptLog) addRU(e control.CkptEntry) control.CkptEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	e.Seq, e.Node = c.seq, c.node
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	c.add(e)
	return e
}

func (c *ckptLog) add(e control.CkptEntry) {
	if len(c.ring) < cap(c.ring) {
		c.ring = append(c.ring, e)
		return
	}
	c.ring[c.next] = e
	c.next = (c.next + 1) % len(c.ring)
}

// entries returns the kept entries, oldest first.
func (c *ckptLog) entries() []control.CkptEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]control.CkptEntry, 0, len(c.ring))
	out = append(out, c.ring[c.next:]...)
	return append(out, c.ring[:c.next]...)
}

// await returns a channel that gets the next entry of the task key, and a
// function to stop waiting.
func (c *ckptLog) await(key string) (<-chan control.CkptEntry, func()) {
	ch := make(chan control.CkptEntry, 1)
	c.mu.Lock()
	c.waiters[key] = append(c.waiters[key], ch)
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		ws := c.waiters[key]
		for i, w := range ws {
			if w == ch {
				c.waiters[key] = append(ws[:i:i], ws[i+1:]...)
				break
			}
		}
		if len(c.waiters[key]) == 0 {
			delete(c.waiters, key)
		}
	}
}

func (rt *nodeRuntime) serveCkptNow(w http.ResponseWriter, r *http.Request) {
	var req control.CkptNowRequest
	if !decodeBody(w, r, &req) {
		return
	}
	req.Timeout = control.CkptWait(req.Timeout)
	key := control.TaskKey(req.Bank, req.Task)
	var found *task.Record
	for _, rec := range rt.tasks.List() {
		if rec.Bank == req.Bank && rec.ID == req.Task {
			found = &rec
			break
		}
	}
	switch {
	case found == nil:
		http.Error(w, fmt.Sprintf("no stable task %s runs on node %s", key, rt.name), http.StatusNotFound)
		return
	case found.State != task.StateRunning:
		http.Error(w, fmt.Sprintf("task %s is %s: only a running task checkpoints", key, found.State), http.StatusConflict)
		return
	}
	start := time.Now()
	ch, stop := rt.ckpts.await(key)
	defer stop()
	if err := rt.tasks.RequestCheckpoint(req.Bank, req.Task); err != nil { // taken at the task's next safe point
		http.Error(w, fmt.Sprintf("task %s: %v", key, err), http.StatusConflict)
		return
	}
	t := time.NewTimer(req.Timeout)
	defer t.Stop()
	select {
	case e := <-ch:
		writeJSON(w, control.CkptNowReply{CkptEntry: e, Waited: time.Since(start)})
	case <-t.C:
		http.Error(w, fmt.Sprintf("task %s took no checkpoint within %s (checkpoints refused without a backup are not counted)", key, req.Timeout), http.StatusGatewayTimeout)
	case <-r.Context().Done():
	}
}
