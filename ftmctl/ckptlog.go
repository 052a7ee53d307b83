package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

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

// ckptEntry is one checkpoint (or a few, see Count) of a stable task.
type ckptEntry struct {
	Seq  uint64    `json:"seq"`  // per node, from 1
	Time time.Time `json:"time"` // when the node saw it
	Node string    `json:"node"`
	Bank string    `json:"bank"`
	Task uint64    `json:"task"`
	// Program and its run: Run is the task's restarts count (0: first run).
	Program string `json:"program"`
	Run     int    `json:"run"`
	// Initiator is who asked: the task's checkpoint policy at one of its
	// safe points. (A checkpoint forced by ftmctl ckpt now is Awaited.)
	Initiator string `json:"initiator"`
	// Awaited: an operator's `ftmctl ckpt now` asked for it (the first
	// checkpoint after the request: the forced one, unless the policy's
	// came first).
	Awaited bool `json:"awaited,omitempty"`
	// Count is the number of checkpoints in this entry; Number the task's
	// checkpoint count in this run once they were taken.
	Count    int           `json:"count"`
	Number   int           `json:"number"`
	Pages    int           `json:"pages"`
	Bytes    int64         `json:"bytes"`
	Duration time.Duration `json:"duration"` // the task was stopped this long
	Progress int64         `json:"progress"` // work done at the checkpoint (the task's Progress)
	// A checkpoint of recovery units (ftmctl ckpt now RU) instead of a
	// task: Unit is the initiating unit, Number the RU it committed,
	// Duration the protocol's time from start to commit, Msgs the protocol
	// messages this node's driver sent meanwhile, Members the RUs
	// committed with it as this node knew them (the initiator and its
	// predecessors, transitively; another node's units' own predecessors
	// are not known here).
	Unit    string   `json:"unit,omitempty"`
	Msgs    int64    `json:"msgs,omitempty"`
	Members []string `json:"members,omitempty"`
}

type ckptSeen struct {
	since time.Time // the run of the task (a restart starts its counters again)
	stats task.Stats
}

type ckptLog struct {
	node string

	mu      sync.Mutex // guards the fields below
	ring    []ckptEntry
	next    int // where the next entry goes
	seq     uint64
	seen    map[string]ckptSeen
	waiters map[string][]chan ckptEntry
}

func newCkptLog(node string, size int) *ckptLog {
	return &ckptLog{node: node, ring: make([]ckptEntry, 0, size), seen: map[string]ckptSeen{}, waiters: map[string][]chan ckptEntry{}}
}

func taskKey(bank string, id uint64) string { return fmt.Sprintf("%s/%d", bank, id) }

// run polls list until ctx ends; observe sees every new entry.
func (c *ckptLog) run(ctx context.Context, list func() []task.Record, observe func(ckptEntry)) {
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
func (c *ckptLog) poll(recs []task.Record) []ckptEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	var added []ckptEntry
	now := time.Now()
	for _, r := range recs {
		key := taskKey(r.Bank, r.ID)
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
		e := ckptEntry{Seq: c.seq, Time: now, Node: c.node, Bank: r.Bank, Task: r.ID, Program: r.Program, Run: r.Restarts,
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
func (c *ckptLog) addRU(e ckptEntry) ckptEntry {
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

func (c *ckptLog) add(e ckptEntry) {
	if len(c.ring) < cap(c.ring) {
		c.ring = append(c.ring, e)
		return
	}
	c.ring[c.next] = e
	c.next = (c.next + 1) % len(c.ring)
}

// entries returns the kept entries, oldest first.
func (c *ckptLog) entries() []ckptEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ckptEntry, 0, len(c.ring))
	out = append(out, c.ring[c.next:]...)
	return append(out, c.ring[:c.next]...)
}

// await returns a channel that gets the next entry of the task key, and a
// function to stop waiting.
func (c *ckptLog) await(key string) (<-chan ckptEntry, func()) {
	ch := make(chan ckptEntry, 1)
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

// ckptNowRequest asks for the next checkpoint of one running task.
type ckptNowRequest struct {
	Bank    string        `json:"bank"`
	Task    uint64        `json:"task"`
	Timeout time.Duration `json:"timeout"`
}

// ckptNowReply is the checkpoint that answered, and how long after the
// request it came.
type ckptNowReply struct {
	ckptEntry
	Waited time.Duration `json:"waited"`
}

// ckptWait is how long a checkpoint asked for on the control socket may
// take: d, or 5s when d is unset or over a minute.
func ckptWait(d time.Duration) time.Duration {
	if d <= 0 || d > time.Minute {
		return 5 * time.Second
	}
	return d
}

func (rt *nodeRuntime) serveCkptNow(w http.ResponseWriter, r *http.Request) {
	var req ckptNowRequest
	if !decodeBody(w, r, &req) {
		return
	}
	req.Timeout = ckptWait(req.Timeout)
	key := taskKey(req.Bank, req.Task)
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
		writeJSON(w, ckptNowReply{ckptEntry: e, Waited: time.Since(start)})
	case <-t.C:
		http.Error(w, fmt.Sprintf("task %s took no checkpoint within %s (checkpoints refused without a backup are not counted)", key, req.Timeout), http.StatusGatewayTimeout)
	case <-r.Context().Done():
	}
}
