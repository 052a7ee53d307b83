package rvm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"

	"github.com/ftm-in-go/ftm/internal/parallel"
	"github.com/ftm-in-go/ftm/stm"
)

// STM layout of checkpointed pages: each segment is named in the "rvm"
// namespace (stm.Namespace) and bound to its own object, segObject, which
// records its page count, its checksum kind, the id of its checksum object
// (4 bytes per page, little-endian, at 4*p) and the ranges of ids its pages
// live at. The page ids are reserved from the bank (stm.Tx.Reserve) when the
// segment is created or grows, so they never overlap another segment's or
// another package's objects, and a checkpoint writes no directory, only
// its pages, the checksum object and (when the page count changed) the
// segment's object. A page object is exactly the page image, so saving one
// is a single copy with nothing to zero. DropSegments deletes a segment's
// objects and its name, so a bank holds only the segments in use.
var segments = stm.Namespace("rvm")

// ErrPageRange is returned for a page saved outside its segment's pages.
var ErrPageRange = errors.New("rvm: page outside its segment")

// STMStore is a PageStore over an STM bank: a checkpoint is one transaction,
// mirrored to the backup bank like any other (paper §4.1: the pager keeps a
// persistent copy of pages in STM).
type STMStore struct {
	bank *stm.Bank
	segs segCache // the segment objects of the last checkpoints (segcache.go)
}

var _ BatchStore = (*STMStore)(nil)

// NewSTMStore uses bank (which may already hold pages, e.g. after a takeover).
func NewSTMStore(bank *stm.Bank) *STMStore { return &STMStore{bank: bank} }

// segObject is a segment's own object.
type segObject struct {
	Pages  int         `codec:"p"`
	Sum    sumKind     `codec:"s"`
	Sums   stm.ID      `codec:"c"` // the checksum object
	Ranges []pageRange `codec:"r"` // page ids, in page order, covering at least Pages

	id stm.ID // the object's own id, as found (not stored)
}

// pageRange is a run of consecutive page ids: page First+i is at Base+i.
type pageRange struct {
	First int    `codec:"f"`
	Base  stm.ID `codec:"b"`
	N     int    `codec:"n"`
}

// covered returns how many pages the ranges give an id.
func (o *segObject) covered() int {
	if len(o.Ranges) == 0 {
		return 0
	}
	r := o.Ranges[len(o.Ranges)-1]
	return r.First + r.N
}

// pageID returns page p's id; ok is false past the ids reserved.
func (o *segObject) pageID(p int) (stm.ID, bool) {
	for _, r := range o.Ranges {
		if p >= r.First && p < r.First+r.N {
			return r.Base + stm.ID(p-r.First), true
		}
	}
	return 0, false
}

// sumKind is the checksum of a segment's pages at rest. Segments created
// now use CRC-32C (kind 0, absent in the encoding), the checksum STM's
// mirror frames carry: stm.Tx.PutCopies computes it while it copies each
// page and the frames' CRC is combined from it, so a page is read once on
// the primary. Segments an earlier build created with CRC-32 (IEEE) keep
// it, checksummed in a pass of their own.
type sumKind uint8

const (
	sumCastagnoli sumKind = 0
	sumIEEE       sumKind = 1
)

func (k sumKind) of(img []byte) uint32 {
	if k == sumCastagnoli {
		return stm.Checksum(img)
	}
	return crc32.ChecksumIEEE(img)
}

// segment returns the segment's object (with its id) as tx sees it; ok is
// false when the segment was never saved.
func segment(tx *stm.Tx, seg string) (segObject, bool, error) {
	id, ok, err := segments.Lookup(tx, seg)
	if err != nil || !ok {
		return segObject{}, false, err
	}
	o, err := stm.Get[segObject](tx, id)
	if err != nil {
		return segObject{}, false, fmt.Errorf("segment %q: %w", seg, err)
	}
	o.id = id
	return o, true, nil
}

// sized returns the segment's object for a checkpoint of npages pages:
// created (named, with a checksum object and page ids reserved) when the
// segment was never saved, written again only when its page count changed
// (with more page ids reserved when it grew).
func sized(tx *stm.Tx, seg string, npages int) (segObject, error) {
	o, ok, err := segment(tx, seg)
	if err != nil || (ok && o.Pages == npages) {
		return o, err
	}
	if !ok {
		if o.id, err = segments.Bind(tx, seg); err != nil {
			return o, err
		}
		if o.Sums, err = tx.Reserve(1); err != nil {
			return o, err
		}
		o.Sum = sumCastagnoli
	}
	if n := npages - o.covered(); n > 0 {
		base, err := tx.Reserve(n)
		if err != nil {
			return o, err
		}
		o.Ranges = append(o.Ranges, pageRange{First: o.covered(), Base: base, N: n})
	}
	o.Pages = npages
	return o, stm.Set(tx, o.id, o)
}

// SavePages implements PageStore: one STM transaction.
func (s *STMStore) SavePages(ctx context.Context, seg string, npages int, pages map[int][]byte) error {
	return s.SaveBatch(ctx, []SegmentPages{{Segment: seg, NPages: npages, Pages: pages}})
}

// SaveBatch implements BatchStore: the pages of every segment in one STM
// transaction, so a task's segments always come back from the same
// checkpoint. The transaction is run again after a conflict (another task
// of the bank created or dropped a segment meanwhile): the pages do not
// change until SaveBatch returns.
func (s *STMStore) SaveBatch(ctx context.Context, batch []SegmentPages) error {
	for _, sp := range batch {
		for p := range sp.Pages {
			if p < 0 || p >= sp.NPages {
				return fmt.Errorf("rvm: segment %q page %d out of its %d pages: %w", sp.Segment, p, sp.NPages, ErrPageRange)
			}
		}
	}
	used := make([]knownSeg, len(batch))
	err := s.bank.UpdateRetry(ctx, func(tx *stm.Tx) error {
		for i, sp := range batch {
			k, err := s.objectFor(tx, sp.Segment, sp.NPages)
			if err != nil {
				return err
			}
			used[i] = k
			if err := putPages(tx, &k.obj, sp); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.segs.forget(batch)
		return err
	}
	s.segs.remember(batch, used)
	return nil
}

// objectFor returns the segment's object for a checkpoint of npages pages,
// with its encoding as tx sees it: the one the store's last checkpoint used
// when tx still sees the same bytes (the usual case: nothing to look up or
// decode), otherwise found in the namespace and made or resized (sized).
func (s *STMStore) objectFor(tx *stm.Tx, seg string, npages int) (knownSeg, error) {
	if k, ok, err := s.segs.lookup(tx, seg, npages); err != nil || ok {
		return k, err
	}
	o, err := sized(tx, seg, npages)
	if err != nil {
		return knownSeg{}, err
	}
	enc, err := tx.Bytes(o.id) // tx's own new version when sized wrote it
	return knownSeg{obj: o, enc: enc}, err
}

// putPages hands the segment's dirty pages to the transaction as new page
// objects, in page order (so the mirror's frames carry consecutive pages),
// and their checksums as the checksum object. The pages are the live memory
// of the stopped task: stm.Tx.PutCopies copies them into STM's own versions
// on every core and checksums each copy while it is in the cache (CRC-32C,
// which the mirror's frames then reuse), so the task's memory is read once.
func putPages(tx *stm.Tx, o *segObject, sp SegmentPages) error {
	idx := make([]int, 0, len(sp.Pages))
	for p := range sp.Pages {
		idx = append(idx, p)
	}
	slices.Sort(idx)
	ids := make([]stm.ID, len(idx))
	imgs := make([][]byte, len(idx))
	for i, p := range idx {
		ids[i], _ = o.pageID(p) // p < o.Pages: SaveBatch checked
		imgs[i] = sp.Pages[p]
	}
	sums, err := tx.PutCopies(ids, imgs)
	if err != nil {
		return err
	}
	if o.Sum != sumCastagnoli { // a segment an earlier build made
		parallel.For(len(idx), minShare, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				sums[i] = o.Sum.of(imgs[i])
			}
		})
	}
	return putSums(tx, o, idx, sums)
}

// putSums writes the segment's checksum object with the new sums of the
// pages idx.
func putSums(tx *stm.Tx, o *segObject, idx []int, sums []uint32) error {
	old, err := readSums(tx, o)
	if err != nil {
		return err
	}
	obj := make([]byte, max(len(old), 4*o.Pages))
	copy(obj, old)
	for i, p := range idx {
		binary.LittleEndian.PutUint32(obj[4*p:], sums[i])
	}
	return tx.Put(o.Sums, obj)
}

// minShare is the fewest pages worth a goroutine of their own.
const minShare = 64

// LoadPages implements PageStore.
func (s *STMStore) LoadPages(ctx context.Context, seg string) (map[int][]byte, error) {
	out := map[int][]byte{}
	err := s.bank.View(ctx, func(tx *stm.Tx) error {
		o, ok, err := segment(tx, seg)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("segment %q: %w", seg, ErrNoImage)
		}
		sums, err := readSums(tx, &o)
		if err != nil {
			return err
		}
		for p := 0; p < o.Pages; p++ {
			id, _ := o.pageID(p)
			obj, err := tx.Bytes(id)
			if errors.Is(err, stm.ErrNotFound) {
				continue // never saved
			}
			if err != nil {
				return err
			}
			if 4*p+4 > len(sums) || o.Sum.of(obj) != binary.LittleEndian.Uint32(sums[4*p:]) {
				return fmt.Errorf("segment %q page %d: %w", seg, p, ErrCorruptPage)
			}
			out[p] = bytes.Clone(obj)
		}
		return nil
	})
	return out, err
}

// readSums returns the segment's checksum object (empty if none was saved).
func readSums(tx *stm.Tx, o *segObject) ([]byte, error) {
	b, err := tx.Bytes(o.Sums)
	if errors.Is(err, stm.ErrNotFound) {
		return nil, nil
	}
	return b, err
}

// DropSegments deletes in tx every segment whose name starts with prefix:
// its pages, its checksum object, its object and its name. A task's
// segments are dropped in the transaction recording its end, so a bank
// holds only the segments of tasks that may still restart.
func DropSegments(tx *stm.Tx, prefix string) error {
	names, err := segments.Names(tx)
	if err != nil {
		return err
	}
	var drop []string
	for name := range names {
		if strings.HasPrefix(name, prefix) {
			drop = append(drop, name)
		}
	}
	slices.Sort(drop)
	for _, name := range drop {
		if err := dropSegment(tx, name, names[name]); err != nil {
			return fmt.Errorf("rvm: drop segment %q: %w", name, err)
		}
	}
	return nil
}

// dropSegment deletes one segment's objects and unbinds its name.
func dropSegment(tx *stm.Tx, name string, id stm.ID) error {
	o, err := stm.Get[segObject](tx, id)
	if err != nil && !errors.Is(err, stm.ErrNotFound) {
		return err
	}
	ids := []stm.ID{id}
	if err == nil {
		ids = append(ids, o.Sums)
		for _, r := range o.Ranges {
			for i := range r.N {
				ids = append(ids, r.Base+stm.ID(i))
			}
		}
	}
	for _, id := range ids {
		if ok, err := tx.Exists(id); err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		if err := tx.Delete(id); err != nil {
			return err
		}
	}
	return segments.Unbind(tx, name)
}
