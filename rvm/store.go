package rvm

import (
	"context"
	"fmt"
	"hash/crc32"
	"sync"
)

// PageStore keeps the checkpointed pages of segments: an in-memory store
// here, STM page objects in a node (the pager).
type PageStore interface {
	// SavePages atomically records pages (page index → image) as the
	// segment's new checkpoint; pages not named keep their saved image. The
	// images are the segment's live memory: the store copies what it keeps
	// before it returns.
	SavePages(ctx context.Context, segment string, npages int, pages map[int][]byte) error
	// LoadPages returns every page saved for the segment, checksums checked.
	LoadPages(ctx context.Context, segment string) (map[int][]byte, error)
}

// SegmentPages is one segment's share of a checkpoint.
type SegmentPages struct {
	Segment string
	NPages  int
	Pages   map[int][]byte // live page images; the store copies them
}

// BatchStore saves the pages of several segments atomically.
type BatchStore interface {
	PageStore
	SaveBatch(ctx context.Context, batch []SegmentPages) error
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// savedPage is a page image and its CRC-32C.
type savedPage struct {
	img []byte
	sum uint32
}

// MemStore is an in-memory PageStore with per-page checksums.
type MemStore struct {
	mu   sync.Mutex
	segs map[string]map[int]savedPage
}

var _ BatchStore = (*MemStore)(nil)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return &MemStore{segs: map[string]map[int]savedPage{}} }

// SavePages implements PageStore.
func (m *MemStore) SavePages(ctx context.Context, seg string, npages int, pages map[int][]byte) error {
	return m.SaveBatch(ctx, []SegmentPages{{Segment: seg, NPages: npages, Pages: pages}})
}

// SaveBatch implements BatchStore: all segments under one lock. A page
// saved before is overwritten in place (LoadPages hands out copies), so a
// steady checkpoint allocates nothing per page.
func (m *MemStore) SaveBatch(_ context.Context, batch []SegmentPages) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range batch {
		sp := m.segs[b.Segment]
		if sp == nil {
			sp = map[int]savedPage{}
			m.segs[b.Segment] = sp
		}
		for p, img := range b.Pages {
			keep := sp[p].img
			if len(keep) != len(img) {
				keep = make([]byte, len(img))
			}
			copy(keep, img)
			sp[p] = savedPage{img: keep, sum: crc32.Checksum(keep, castagnoli)}
		}
	}
	return nil
}

// LoadPages implements PageStore.
func (m *MemStore) LoadPages(_ context.Context, seg string) (map[int][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return loadPages(m.segs, seg)
}

// loadPages copies out the saved pages of segment seg, checking each
// page's checksum.
func loadPages(segs map[string]map[int]savedPage, seg string) (map[int][]byte, error) {
	sp, ok := segs[seg]
	if !ok {
		return nil, fmt.Errorf("segment %q: %w", seg, ErrNoImage)
	}
	out := make(map[int][]byte, len(sp))
	for p, s := range sp {
		if crc32.Checksum(s.img, castagnoli) != s.sum {
			return nil, fmt.Errorf("segment %q page %d: %w", seg, p, ErrCorruptPage)
		}
		out[p] = append([]byte(nil), s.img...)
	}
	return out, nil
}

// corrupt flips a bit of a saved page (tests).
func (m *MemStore) corrupt(seg string, page int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.segs[seg][page].img[0] ^= 1
}
