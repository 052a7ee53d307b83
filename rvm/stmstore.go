package rvm

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"runtime"
	"slices"
	"sync"

	"github.com/ftm-in-go/ftm/stm"
)

// STM layout of checkpointed pages: segment k (in the order segments were
// first saved) keeps page p in the object segBase(k)+p, below
// stm.FirstAllocatedID, and the checksum of every page in one checksum
// object, sumID(k) (4 bytes per page, little-endian, at 4*p); the directory
// object lists the segments and says which checksum each uses (sumKind). A
// page object is exactly the page image, so saving one is a single copy with
// nothing to zero.
const (
	dirID          stm.ID = 1 << 31
	maxSegPages           = 1 << 20
	maxSTMSegments        = (1<<31)/maxSegPages - 2
)

func segBase(k int) stm.ID { return stm.ID(k+1) * maxSegPages }

// sumID is the checksum object of segment k, after its last possible page.
func sumID(k int) stm.ID { return segBase(k) + maxSegPages - 1 }

// STMStore is a PageStore over an STM bank: a checkpoint is one transaction,
// mirrored to the backup bank like any other (paper §4.1: the pager keeps a
// persistent copy of pages in STM).
type STMStore struct {
	bank *stm.Bank
}

var _ BatchStore = (*STMStore)(nil)

// NewSTMStore uses bank (which may already hold pages, e.g. after a takeover).
func NewSTMStore(bank *stm.Bank) *STMStore { return &STMStore{bank: bank} }

// segEntry is one segment in the directory object.
type segEntry struct {
	Index int     `codec:"i"`
	Pages int     `codec:"p"`
	Sum   sumKind `codec:"s"` // absent (0) in directories written before IEEE sums
}

// sumKind is the checksum of a segment's pages at rest. Segments created
// now use CRC-32 (IEEE), which Go computes with carry-less multiplication
// (AVX-512 VPCLMULQDQ where present: about 4× the speed of CRC-32C's
// SSE4.2 instruction on the machine of BENCH.md); segments saved before
// keep CRC-32C.
type sumKind uint8

const (
	sumCastagnoli sumKind = 0
	sumIEEE       sumKind = 1
)

func (k sumKind) of(img []byte) uint32 {
	if k == sumCastagnoli {
		return crc32.Checksum(img, castagnoli)
	}
	return crc32.ChecksumIEEE(img)
}

var segDir = stm.Var[map[string]segEntry]{ID: dirID}

// entry returns the segment's directory entry; with npages > 0 it is added
// (or its page count updated) in tx.
func (s *STMStore) entry(tx *stm.Tx, seg string, npages int) (segEntry, bool, error) {
	dir, err := segDir.Get(tx)
	if err != nil || dir == nil {
		dir = map[string]segEntry{}
	}
	e, ok := dir[seg]
	if npages == 0 || (ok && e.Pages == npages) {
		return e, ok, nil
	}
	if !ok {
		if len(dir) >= maxSTMSegments {
			return e, false, fmt.Errorf("rvm: too many segments in one STM bank")
		}
		e.Index, e.Sum = len(dir), sumIEEE
	}
	e.Pages = npages
	dir[seg] = e
	return e, true, segDir.Set(tx, dir)
}

// SavePages implements PageStore: one STM transaction.
func (s *STMStore) SavePages(ctx context.Context, seg string, npages int, pages map[int][]byte) error {
	return s.SaveBatch(ctx, []SegmentPages{{Segment: seg, NPages: npages, Pages: pages}})
}

// SaveBatch implements BatchStore: the pages of every segment in one STM
// transaction, so a task's segments always come back from the same
// checkpoint.
func (s *STMStore) SaveBatch(ctx context.Context, batch []SegmentPages) error {
	for _, sp := range batch {
		if sp.NPages > maxSegPages-1 {
			return fmt.Errorf("rvm: segment %q has %d pages, at most %d fit in STM", sp.Segment, sp.NPages, maxSegPages-1)
		}
	}
	return s.bank.Update(ctx, func(tx *stm.Tx) error {
		for _, sp := range batch {
			if err := s.putPages(tx, sp); err != nil {
				return err
			}
		}
		return nil
	})
}

// putPages hands the segment's dirty pages to the transaction as new page
// objects, in page order (so the mirror's frames carry consecutive pages),
// and their checksums as the checksum object. The pages are lent
// (stm.Tx.PutBorrowed): they are the live memory of the stopped task, which
// does not change until the checkpoint returns, so STM ships them from there
// and copies them into its own versions while the backup receives them. The
// checksums are computed on every core while the pages are handed over.
func (s *STMStore) putPages(tx *stm.Tx, sp SegmentPages) error {
	e, _, err := s.entry(tx, sp.Segment, sp.NPages)
	if err != nil {
		return err
	}
	idx := make([]int, 0, len(sp.Pages))
	for p := range sp.Pages {
		idx = append(idx, p)
	}
	slices.Sort(idx)
	sums := make([]uint32, len(idx))
	summed := make(chan struct{}) // the checksums are computed while the pages are handed over
	sumAll := func() {
		defer close(summed)
		parallel(len(idx), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				sums[i] = e.Sum.of(sp.Pages[idx[i]])
			}
		})
	}
	if len(idx) < 2*minShare {
		sumAll() // a few pages: not worth a goroutine
	} else {
		go sumAll()
	}
	var err2 error
	for _, p := range idx {
		if err2 = tx.PutBorrowed(segBase(e.Index)+stm.ID(p), sp.Pages[p]); err2 != nil {
			break
		}
	}
	<-summed
	if err2 != nil {
		return err2
	}
	old, err := s.sums(tx, e.Index)
	if err != nil {
		return err
	}
	obj := make([]byte, max(len(old), 4*e.Pages))
	copy(obj, old)
	for i, p := range idx {
		binary.LittleEndian.PutUint32(obj[4*p:], sums[i])
	}
	return tx.Put(sumID(e.Index), obj)
}

// minShare is the fewest pages worth a goroutine of their own.
const minShare = 64

// parallel runs fn over [0, n) split among GOMAXPROCS goroutines when n is
// large enough to pay for them.
func parallel(n int, fn func(lo, hi int)) {
	w := min(runtime.GOMAXPROCS(0), n/minShare)
	if w <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for k := range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(k*n/w, (k+1)*n/w)
		}()
	}
	wg.Wait()
}

// LoadPages implements PageStore.
func (s *STMStore) LoadPages(ctx context.Context, seg string) (map[int][]byte, error) {
	out := map[int][]byte{}
	err := s.bank.View(ctx, func(tx *stm.Tx) error {
		e, ok, err := s.entry(tx, seg, 0)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("segment %q: %w", seg, ErrNoImage)
		}
		sums, err := s.sums(tx, e.Index)
		if err != nil {
			return err
		}
		for p := 0; p < e.Pages; p++ {
			id := segBase(e.Index) + stm.ID(p)
			if exists, err := tx.Exists(id); err != nil || !exists {
				if err != nil {
					return err
				}
				continue
			}
			obj, err := tx.Bytes(id)
			if err != nil {
				return err
			}
			if 4*p+4 > len(sums) || e.Sum.of(obj) != binary.LittleEndian.Uint32(sums[4*p:]) {
				return fmt.Errorf("segment %q page %d: %w", seg, p, ErrCorruptPage)
			}
			out[p] = bytes.Clone(obj)
		}
		return nil
	})
	return out, err
}

// sums returns segment k's checksum object (empty if none was saved).
func (s *STMStore) sums(tx *stm.Tx, k int) ([]byte, error) {
	ok, err := tx.Exists(sumID(k))
	if err != nil || !ok {
		return nil, err
	}
	return tx.Bytes(sumID(k))
}
