package rvm

import (
	"bytes"
	"errors"
	"sync"

	"github.com/ftm-in-go/ftm/stm"
)

// maxKnown bounds the segments an STMStore remembers; past it the cache
// starts over (a store outliving many dropped segments stays small).
const maxKnown = 4096

// segCache remembers, per segment name, the segment object an STMStore's
// last committed checkpoint used, and its encoding as committed. A
// checkpoint of a segment whose page count did not change then reads only
// the segment object's bytes and compares them with the encoding: no
// directory lookup, no decoding. The comparison is what makes the entry
// trustworthy: a segment object exists exactly while its name is bound to
// it (both are written in one transaction by sized and dropSegment) and ids
// are never handed out twice, so an object still holding the same bytes at
// the same id is still the segment's. The read is recorded by the
// transaction like any other, so a concurrent drop or resize makes the
// checkpoint conflict (and run again, finding the new object).
type segCache struct {
	mu    sync.Mutex
	known map[string]knownSeg
}

// knownSeg is a segment object and its encoding as committed.
type knownSeg struct {
	obj segObject
	enc []byte // shared with the bank's committed version: never modified
}

// lookup returns the segment object remembered for seg if tx still sees it,
// with the same bytes, and it has npages pages; ok is false otherwise.
func (c *segCache) lookup(tx *stm.Tx, seg string, npages int) (knownSeg, bool, error) {
	c.mu.Lock()
	k, found := c.known[seg]
	c.mu.Unlock()
	if !found || k.obj.Pages != npages {
		return knownSeg{}, false, nil
	}
	cur, err := tx.Bytes(k.obj.id)
	if errors.Is(err, stm.ErrNotFound) {
		return knownSeg{}, false, nil // dropped meanwhile
	}
	if err != nil || !bytes.Equal(cur, k.enc) {
		return knownSeg{}, false, err
	}
	return k, true, nil
}

// remember records the segment objects a checkpoint of batch committed
// with (used[i] is batch[i]'s).
func (c *segCache) remember(batch []SegmentPages, used []knownSeg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known == nil || len(c.known)+len(batch) > maxKnown {
		c.known = make(map[string]knownSeg, len(batch))
	}
	for i, sp := range batch {
		c.known[sp.Segment] = used[i]
	}
}

// forget drops what is remembered of the segments of a checkpoint that did
// not commit: the next one looks them up again.
func (c *segCache) forget(batch []SegmentPages) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sp := range batch {
		delete(c.known, sp.Segment)
	}
}
