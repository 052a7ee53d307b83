package rvm

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrNoWriteTracking says the kernel cannot track writes for us.
var ErrNoWriteTracking = errors.New("rvm: OS write tracking unavailable")

// Tracker finds the pages of a segment written since the last checkpoint,
// with no annotation of the writes. The segment's lock guards every call.
type Tracker interface {
	// Method says which way the tracker finds writes.
	Method() Method
	// Written adds to set every page written since the last reset. With
	// reset, the tracker starts over: what it found must be kept by the
	// caller until a checkpoint saved it.
	Written(set map[int]bool, reset bool) error
	// Saved tells the tracker that page p is img in the store now.
	Saved(p int, img []byte)
	// Baseline makes the memory as it is now the checkpointed image (after a
	// restore, which is not a change).
	Baseline() error
	// Close releases what the tracker holds.
	Close()
}

// compareTracker compares each page with the image saved at the last
// checkpoint. A write that puts a page's old bytes back leaves it clean.
type compareTracker struct {
	mem, shadow []byte
	pageSize    int
}

func newCompareTracker(mem []byte, pageSize int) *compareTracker {
	return &compareTracker{mem: mem, shadow: make([]byte, len(mem)), pageSize: pageSize}
}

func (c *compareTracker) Method() Method { return Compare }

// Written compares page by page; bytes.Equal is vectorised (memcmp speed),
// and a page already in set is not compared again.
func (c *compareTracker) Written(set map[int]bool, _ bool) error {
	ps := c.pageSize
	for p, off := 0, 0; off < len(c.mem); p, off = p+1, off+ps {
		if !set[p] && !bytes.Equal(c.mem[off:off+ps], c.shadow[off:off+ps]) {
			set[p] = true
		}
	}
	return nil
}

func (c *compareTracker) Saved(p int, img []byte) { copy(c.shadow[p*c.pageSize:], img) }
func (c *compareTracker) Baseline() error         { copy(c.shadow, c.mem); return nil }
func (c *compareTracker) Close()                  {}

// osTracker asks the kernel which pages were written (uffd_linux.go). A
// write that puts a page's old bytes back still counts as dirty.
type osTracker struct {
	wt       *writeTracker
	pageSize int
}

func (o *osTracker) Method() Method { return WriteTrack }

func (o *osTracker) Written(set map[int]bool, reset bool) error {
	_, err := o.wt.scan(func(off, n int) {
		for p := off / o.pageSize; p*o.pageSize < off+n; p++ {
			set[p] = true
		}
	}, reset)
	if err != nil {
		return fmt.Errorf("rvm: PAGEMAP_SCAN: %w", err)
	}
	return nil
}

func (o *osTracker) Saved(int, []byte) {}

func (o *osTracker) Baseline() error {
	_, err := o.wt.scan(nil, true)
	return err
}

func (o *osTracker) Close() { o.wt.close() }
