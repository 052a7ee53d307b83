package stm

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
)

// txStatus is what the test knows of a transaction's outcome.
type txStatus uint8

const (
	stAborted   txStatus = iota
	stCommitted          // reported committed
	stMaybe              // the commit raced a crash: resolved from the survivor
)

// rec is one transaction in the history.
type rec struct {
	tag    int
	era    int // takeovers before the transaction was validated
	seq    uint64
	group  GroupID
	reads  map[ID]string // value seen before any own write ("" = absent)
	writes []ID          // objects written with value strconv.Itoa(tag)
	status txStatus
}

// markerID is the object a writing transaction creates to prove it committed.
func markerID(tag int) ID { return markerBase + ID(tag) }

const markerBase ID = 1 << 20

// history collects every transaction of a randomized run.
type history struct {
	mu   sync.Mutex
	recs []*rec
	next int
}

func (h *history) begin(era int) *rec {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next++
	r := &rec{tag: h.next, era: era, reads: make(map[ID]string)}
	h.recs = append(h.recs, r)
	return r
}

// resolve decides every maybe-transaction of the past from the survivor's
// markers: a marker present means it committed.
func (h *history) resolve(survivor map[ID][]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.recs {
		if r.status != stMaybe {
			continue
		}
		r.status = stAborted
		if _, ok := survivor[markerID(r.tag)]; ok && len(r.writes) > 0 {
			r.status = stCommitted
		}
	}
}

// committedInOrder returns committed transactions in serialization order.
func (h *history) committedInOrder() []*rec {
	var out []*rec
	for _, r := range h.recs {
		if r.status == stCommitted {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].era != out[j].era {
			return out[i].era < out[j].era
		}
		return out[i].seq < out[j].seq
	})
	return out
}

// model applies the committed transactions in order: the state the
// survivor must hold exactly.
func (h *history) model() map[ID]string {
	state := make(map[ID]string)
	for _, r := range h.committedInOrder() {
		r.apply(state)
	}
	return state
}

func (r *rec) apply(state map[ID]string) {
	v := strconv.Itoa(r.tag)
	for _, id := range r.writes {
		state[id] = v
	}
	if len(r.writes) > 0 {
		state[markerID(r.tag)] = "1"
	}
}

// check is the history checker: (1) every value any transaction read was
// written by a committed transaction that wrote that object, or is the
// initial (absent) value; (2) replaying the committed transactions in Seq
// order, each one's reads equal the replayed state (serializability).
func (h *history) check() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	wrote := make(map[string]map[ID]bool)
	for _, r := range h.recs {
		if r.status == stCommitted {
			wrote[strconv.Itoa(r.tag)] = idSet(r.writes)
		}
	}
	for _, r := range h.recs {
		for id, v := range r.reads {
			if v != "" && !wrote[v][id] {
				return fmt.Errorf("tx %d read %q from object %d: not written by a committed transaction", r.tag, v, id)
			}
		}
	}
	state := make(map[ID]string)
	for _, r := range h.committedInOrder() {
		for id, v := range r.reads {
			if state[id] != v {
				return fmt.Errorf("tx %d (era %d seq %d) read object %d = %q, serial order has %q",
					r.tag, r.era, r.seq, id, v, state[id])
			}
		}
		r.apply(state)
	}
	return nil
}

func idSet(ids []ID) map[ID]bool {
	m := make(map[ID]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}
