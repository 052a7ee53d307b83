package rvm

import (
	"context"
	"errors"
	"hash/crc32"
	"sort"
	"sync"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
)

// ErrCrashed is returned by a CrashStore that a failpoint crashed, until
// Recover.
var ErrCrashed = errors.New("rvm: page store crashed")

// Failpoints of a CrashStore's SavePages, in the order they are reached.
const (
	FailBeforeSave   = "before-save"   // nothing staged yet
	FailMidSave      = "mid-save"      // after each staged page
	FailBeforeCommit = "before-commit" // every page staged, not yet visible
	FailAfterCommit  = "after-commit"  // the checkpoint is durable; the caller sees an error
)

// CrashStore is a PageStore for crash tests: SavePages stages the pages one
// by one and makes them visible in one step (the commit), and a failpoint
// hook can crash it at any named point. A crash loses whatever was staged
// and not committed; the store answers ErrCrashed until Recover.
type CrashStore struct {
	// Failpoint, when non-nil, is called at each failpoint (subject "");
	// an error crashes the store there.
	Failpoint failpoint.Hook

	mu      sync.Mutex
	segs    map[string]map[int]savedPage // guarded by mu: committed pages
	crashed bool                         // guarded by mu
}

var _ BatchStore = (*CrashStore)(nil)

// NewCrashStore returns an empty store.
func NewCrashStore() *CrashStore { return &CrashStore{segs: map[string]map[int]savedPage{}} }

// hit runs the failpoint hook at point and reports whether it crashed the
// store there.
func (c *CrashStore) hit(point string) bool {
	if c.Failpoint.Fires(point, "") {
		c.crashed = true
		return true
	}
	return false
}

// SavePages implements PageStore.
func (c *CrashStore) SavePages(ctx context.Context, seg string, npages int, pages map[int][]byte) error {
	return c.SaveBatch(ctx, []SegmentPages{{Segment: seg, NPages: npages, Pages: pages}})
}

// SaveBatch implements BatchStore: every segment's pages are staged, then
// made visible together.
func (c *CrashStore) SaveBatch(_ context.Context, batch []SegmentPages) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed || c.hit(FailBeforeSave) {
		return ErrCrashed
	}
	staged := make([]map[int]savedPage, len(batch))
	for i, sp := range batch {
		var ok bool
		if staged[i], ok = c.stage(sp.Pages); !ok {
			return ErrCrashed
		}
	}
	if c.hit(FailBeforeCommit) {
		return ErrCrashed
	}
	for i, sp := range batch {
		c.commit(sp.Segment, staged[i])
	}
	if c.hit(FailAfterCommit) {
		return ErrCrashed
	}
	return nil
}

// stage copies pages in page order, with the mid-save failpoint after each.
func (c *CrashStore) stage(pages map[int][]byte) (map[int]savedPage, bool) {
	staged := make(map[int]savedPage, len(pages))
	order := make([]int, 0, len(pages))
	for p := range pages {
		order = append(order, p)
	}
	sort.Ints(order)
	for _, p := range order {
		img := append([]byte(nil), pages[p]...)
		staged[p] = savedPage{img: img, sum: crc32.Checksum(img, castagnoli)}
		if c.hit(FailMidSave) {
			return nil, false
		}
	}
	return staged, true
}

func (c *CrashStore) commit(seg string, staged map[int]savedPage) {
	sp := c.segs[seg]
	if sp == nil {
		sp = map[int]savedPage{}
		c.segs[seg] = sp
	}
	for p, s := range staged {
		sp[p] = s
	}
}

// Recover brings a crashed store back with its committed pages only.
func (c *CrashStore) Recover() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.crashed = false
}

// LoadPages implements PageStore.
func (c *CrashStore) LoadPages(_ context.Context, seg string) (map[int][]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed {
		return nil, ErrCrashed
	}
	return loadPages(c.segs, seg)
}

// Corrupt flips one bit of a committed page, as a bad disk or wire would
// (tests).
func (c *CrashStore) Corrupt(seg string, page int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.segs[seg][page]
	if ok {
		s.img[len(s.img)/2] ^= 0x10
	}
	return ok
}
