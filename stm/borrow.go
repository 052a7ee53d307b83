package stm

import (
	"fmt"
	"sync"

	"github.com/ftm-in-go/ftm/internal/parallel"
	"github.com/ftm-in-go/ftm/stm/internal/crc32c"
)

// Checksum returns the CRC-32C (Castagnoli) of data, the checksum of the
// mirror's frames and of PutCopies, computed by carry-less multiplication
// where the CPU has it (bit for bit hash/crc32's crc32.Castagnoli).
func Checksum(data []byte) uint32 { return crc32c.Checksum(data) }

// PutCopies makes a copy of each data[i] the new version of ids[i] (Put of
// a copy the transaction owns) and returns each copy's CRC-32C (Checksum).
// The copies are made on every core, each checksummed while it is still in
// the cache, into the buffers of superseded copies when there are some
// (warm memory, no allocation); the mirror ships the copies and makes its
// frames' CRC from these sums instead of reading the bytes again. So a
// stopped task's pages cost one pass over its memory on the primary: this
// is how the RVM pager saves them. data may change once PutCopies returns.
func (tx *Tx) PutCopies(ids []ID, data [][]byte) ([]uint32, error) {
	if len(ids) != len(data) {
		return nil, fmt.Errorf("stm: %d ids for %d objects: %w", len(ids), len(data), ErrBadRange)
	}
	copies := make([][]byte, len(data))
	sums := make([]uint32, len(data))
	sp := &tx.b.spare
	parallel.For(len(data), spreadMin, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			c := sp.get(len(data[i]))
			copy(c, data[i])
			copies[i], sums[i] = c, crc32c.Checksum(c)
		}
	})
	vs := make([]version, len(ids)) // one allocation for all the new versions
	for i := range vs {
		vs[i] = version{data: copies[i], lent: true, summed: true, sum: sums[i]}
	}
	if err := tx.writeAll(ids, vs); err != nil {
		for _, c := range copies {
			sp.put(c)
		}
		return nil, err
	}
	return sums, nil
}

// spreadMin is the fewest objects worth a goroutine of their own.
const spreadMin = 64

// PutBorrowed makes data the object's new version like Put, but only lends
// data to the transaction: the caller keeps it and must not change it until
// Commit or Precommit has returned (or the transaction aborted). Commit
// ships data to the backup from where it is and copies it into the bank's
// own version while the backup receives it, so the copy no longer precedes
// the round trip. This is how the RVM pager saves the pages of a task
// stopped for its checkpoint: straight from the task's memory, which does
// not change until the checkpoint returns. Before the transaction commits,
// its own reads of the object (Bytes) return data itself.
func (tx *Tx) PutBorrowed(id ID, data []byte) error {
	return tx.write(id, version{data: data, borrowed: true})
}

// lentCopy copies a transaction's borrowed versions on another goroutine
// while its phase 1 is shipped (copyBorrowed), then installs the copies in
// place of the borrowed data (install) before the versions can be seen
// outside the transaction. A nil *lentCopy means nothing was borrowed.
type lentCopy struct {
	vs     []*version
	copies [][]byte
	done   chan struct{}
	spare  *spare // where the copies' buffers come from
}

// copyBorrowed starts copying tx's borrowed versions. It runs once the
// transaction has left its working phase: its versions no longer change.
func (tx *Tx) copyBorrowed() *lentCopy {
	var lc *lentCopy
	for _, id := range tx.order {
		if v := tx.writes[id]; v.borrowed {
			if lc == nil {
				lc = &lentCopy{done: make(chan struct{}), spare: &tx.b.spare}
			}
			lc.vs = append(lc.vs, v)
		}
	}
	if lc == nil {
		return nil
	}
	lc.copies = make([][]byte, len(lc.vs))
	total := 0
	for _, v := range lc.vs {
		total += len(v.data)
	}
	if total < lendAsync { // cheaper than a goroutine hand-off
		lc.copyAll()
		return lc
	}
	go lc.copyAll()
	return lc
}

// lendAsync is the amount of lent data from which the copy runs on its own
// goroutine; below it (a few pages) the copy costs less than waking one.
const lendAsync = 256 << 10

func (lc *lentCopy) copyAll() {
	defer close(lc.done)
	for i, v := range lc.vs {
		c := lc.spare.get(len(v.data))
		copy(c, v.data)
		lc.copies[i] = c
	}
}

// wait returns once the copying goroutine has finished (it reads the lent
// data, which the caller may change once Commit returns).
func (lc *lentCopy) wait() {
	if lc != nil {
		<-lc.done
	}
}

// install waits for the copies and makes them the transaction's versions;
// b.mu must not be held.
func (lc *lentCopy) install(b *Bank) {
	if lc == nil {
		return
	}
	<-lc.done
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, v := range lc.vs {
		v.data, v.borrowed, v.lent = lc.copies[i], false, true
	}
}

// spare keeps the buffers of superseded page copies (of lent data, or made
// by PutCopies) for the next copies of their size, so a checkpoint
// rewriting a segment copies into memory already mapped and warm instead
// of fresh allocations (whose page faults cost several times the copy).
// Only a copy no reader was ever handed comes back here (object.lent):
// Bytes and a joining backup's snapshot clear the mark (a write's base is
// read under the writer's lock, so it is not superseded while it is
// copied); mirrors see the lent data itself (a phase 1 ships it before the
// copies are installed) or PutCopies' copies marked Write.lent, which a
// mirror that keeps data past its call copies (FileMirror; LocalMirror
// copies everything; RemoteMirror keeps nothing).
// Its lock is a leaf (taken under Bank.mu, or alone by copyAll and
// PutCopies' copiers).
type spare struct {
	mu   sync.Mutex
	free map[int][][]byte // by length
	held int              // bytes in free
}

// Bounds of a bank's spare buffers.
const (
	spareMin  = 512       // smaller copies are not kept
	spareHeld = 128 << 20 // bytes kept at most
)

// get returns a buffer of n bytes (its contents are garbage).
func (s *spare) get(n int) []byte {
	if n >= spareMin {
		s.mu.Lock()
		l := s.free[n]
		if len(l) > 0 {
			b := l[len(l)-1]
			s.free[n] = l[:len(l)-1]
			s.held -= n
			s.mu.Unlock()
			return b
		}
		s.mu.Unlock()
	}
	return make([]byte, n)
}

// put keeps b for a later copy of its length, if there is room.
func (s *spare) put(b []byte) {
	n := len(b)
	if n < spareMin || n != cap(b) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held+n > spareHeld {
		return
	}
	if s.free == nil {
		s.free = make(map[int][][]byte)
	}
	s.free[n] = append(s.free[n], b)
	s.held += n
}
