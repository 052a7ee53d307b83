package stm

import (
	"fmt"
	"slices"
)

// version is a transaction's new version of one object (Figure 5: allocated
// on the first write, working phase).
type version struct {
	data     []byte
	deleted  bool
	borrowed bool // data is lent by the caller until commit (borrow.go)
	lent     bool // data is the bank's copy of lent data no reader was handed (borrow.go)
	summed   bool // sum is data's CRC-32C (PutCopies)
	sum      uint32
}

// Tx is a transaction on a bank. A Tx is used by one goroutine at a time;
// many transactions run concurrently.
//
// Concurrency control: a write takes the object's write lock at once and a
// second writer gets ErrConflict immediately (no waiting, so no deadlock);
// reads see the last committed version and are validated at commit (the
// object must not have changed, nor be held by another transaction that is
// itself committing), otherwise the commit fails with ErrConflict. A
// long-running writer in its working phase (a recovery unit's transaction)
// does not disturb readers. Committed transactions are serializable in the
// order of their commit sequence numbers (Seq).
type Tx struct {
	b        *Bank
	id       TxID
	readOnly bool
	done     chan struct{} // closed when the transaction is finished

	// Owned by the goroutine using the transaction until it leaves Working.
	reads  map[ID]uint64   // seq of the version read (0: absent)
	writes map[ID]*version // new versions
	order  []ID            // ids of writes in first-write order

	// Guarded by b.mu.
	phase   Phase
	seq     uint64  // commit sequence, assigned at validation
	group   GroupID // group joined at Precommit
	outcome error   // nil once committed, ErrAborted (wrapped) once aborted
}

// ID returns the transaction's id.
func (tx *Tx) ID() TxID { return tx.id }

// Seq returns the commit sequence number assigned when the transaction was
// validated (0 before). Committed transactions are serializable in Seq order.
func (tx *Tx) Seq() uint64 {
	tx.b.mu.Lock()
	defer tx.b.mu.Unlock()
	return tx.seq
}

// Phase returns where the transaction stands.
func (tx *Tx) Phase() Phase {
	tx.b.mu.Lock()
	defer tx.b.mu.Unlock()
	return tx.phase
}

// Bytes returns the object's current value as seen by the transaction: its
// own new version, or the committed one. The slice is shared and must not be
// modified (use WriteAt or Put to change the object).
func (tx *Tx) Bytes(id ID) ([]byte, error) {
	b := tx.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := tx.usable(); err != nil {
		return nil, err
	}
	if v, ok := tx.writes[id]; ok {
		if v.deleted {
			return nil, fmt.Errorf("object %d: %w", id, ErrNotFound)
		}
		v.lent = false // handed out: never recycled
		return v.data, nil
	}
	o := b.objs[id]
	tx.noteRead(id, o)
	if o == nil {
		return nil, fmt.Errorf("object %d: %w", id, ErrNotFound)
	}
	o.lent = false // handed out: never recycled
	return o.data, nil
}

// ReadAt copies len(p) bytes of the object from offset off into p.
func (tx *Tx) ReadAt(id ID, off int, p []byte) error {
	data, err := tx.Bytes(id)
	if err != nil {
		return err
	}
	if off < 0 || off+len(p) > len(data) {
		return fmt.Errorf("object %d [%d,%d) of %d: %w", id, off, off+len(p), len(data), ErrBadRange)
	}
	copy(p, data[off:])
	return nil
}

// Exists reports whether the object exists for the transaction.
func (tx *Tx) Exists(id ID) (bool, error) {
	_, err := tx.Bytes(id)
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, err
}

// noteRead records the version read for validation; b.mu held.
func (tx *Tx) noteRead(id ID, o *object) {
	if _, ok := tx.reads[id]; ok {
		return
	}
	if tx.reads == nil {
		tx.reads = make(map[ID]uint64)
	}
	var s uint64
	if o != nil {
		s = o.seq
	}
	tx.reads[id] = s
}

// usable reports whether the transaction may still read and write; b.mu held.
func (tx *Tx) usable() error {
	if err := tx.b.liveErr(); err != nil {
		return err
	}
	if tx.phase != Working {
		return fmt.Errorf("tx %d is %s: %w", tx.id, tx.phase, ErrTxDone)
	}
	return nil
}

// Put makes data the object's new version, creating the object if needed.
// The transaction takes ownership of data: the caller must not modify it
// afterwards (this is how a page is handed over without a copy).
func (tx *Tx) Put(id ID, data []byte) error {
	return tx.write(id, version{data: data})
}

// write makes v the transaction's new version of the object id.
func (tx *Tx) write(id ID, v version) error {
	w, err := tx.lockForWrite(id)
	if err != nil {
		return err
	}
	*w.v = v
	return nil
}

// writeAll makes vs[i] the transaction's new version of ids[i], as write
// does for each, under one lock: the versions are used in place.
func (tx *Tx) writeAll(ids []ID, vs []version) error {
	b := tx.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := tx.usable(); err != nil {
		return err
	}
	if tx.readOnly {
		return ErrReadOnly
	}
	if tx.writes == nil {
		tx.writes = make(map[ID]*version, len(ids))
	}
	tx.order = slices.Grow(tx.order, len(ids))
	for i, id := range ids {
		if v, ok := tx.writes[id]; ok {
			*v = vs[i]
			continue
		}
		if owner := b.locks[id]; owner != nil && owner != tx {
			b.stats.Conflicts++
			b.abortLocked(tx)
			return fmt.Errorf("object %d held by tx %d: %w", id, owner.id, ErrConflict)
		}
		b.locks[id] = tx
		tx.writes[id] = &vs[i]
		tx.order = append(tx.order, id)
	}
	return nil
}

// Insert creates the object at id; ErrExists if it already exists.
func (tx *Tx) Insert(id ID, data []byte) error {
	ok, err := tx.Exists(id)
	if err != nil {
		return err
	}
	if ok {
		return fmt.Errorf("object %d: %w", id, ErrExists)
	}
	return tx.Put(id, data)
}

// Create allocates a fresh id and creates the object there (ownership of
// data passes to the transaction, as with Put).
func (tx *Tx) Create(data []byte) (ID, error) {
	b := tx.b
	b.mu.Lock()
	if err := tx.usable(); err != nil {
		b.mu.Unlock()
		return 0, err
	}
	id := b.nextID
	b.nextID++
	b.mu.Unlock()
	return id, tx.Put(id, data)
}

// WriteAt copies p into the object at offset off. The first write to an
// object in a transaction copies its committed version once (the new
// version); later writes go straight into it. Writing past the end grows
// the object.
func (tx *Tx) WriteAt(id ID, off int, p []byte) error {
	if off < 0 {
		return fmt.Errorf("object %d offset %d: %w", id, off, ErrBadRange)
	}
	w, err := tx.lockForWrite(id)
	if err != nil {
		return err
	}
	v := w.v
	v.summed = false // the bytes change
	if w.first {
		v.data = newVersion(w.committed, off, p)
		return nil
	}
	if v.borrowed { // never write into the lender's memory
		v.data, v.borrowed = append([]byte(nil), v.data...), false
	}
	if end := off + len(p); end > len(v.data) {
		v.data = append(v.data, make([]byte, end-len(v.data))...)
	}
	copy(v.data[off:], p)
	v.deleted = false
	return nil
}

// Delete removes the object (at commit).
func (tx *Tx) Delete(id ID) error {
	return tx.write(id, version{deleted: true})
}

// lockedVersion is the new version of an object whose write lock the
// transaction holds. first says this write took the lock; committed is then
// the version it replaces (nil for a new object), which WriteAt copies
// (Figure 5: a new version on the first write).
type lockedVersion struct {
	v         *version
	first     bool
	committed []byte
}

// lockForWrite takes the object's write lock and returns the transaction's
// new version.
func (tx *Tx) lockForWrite(id ID) (lockedVersion, error) {
	b := tx.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := tx.usable(); err != nil {
		return lockedVersion{}, err
	}
	if tx.readOnly {
		return lockedVersion{}, ErrReadOnly
	}
	if v, ok := tx.writes[id]; ok {
		return lockedVersion{v: v}, nil
	}
	if owner := b.locks[id]; owner != nil && owner != tx {
		b.stats.Conflicts++
		b.abortLocked(tx)
		return lockedVersion{}, fmt.Errorf("object %d held by tx %d: %w", id, owner.id, ErrConflict)
	}
	b.locks[id] = tx
	if tx.writes == nil {
		tx.writes = make(map[ID]*version)
	}
	w := lockedVersion{v: &version{}, first: true}
	tx.writes[id] = w.v
	tx.order = append(tx.order, id)
	if o := b.objs[id]; o != nil {
		w.committed = o.data // read under tx's write lock: o is not superseded meanwhile
	}
	return w, nil
}

// Abort drops the transaction's new versions (the old ones, still in the
// primary bank, win). It is a no-op once the transaction has finished, and
// a transaction waiting in phase 2 leaves only with its group's decision.
func (tx *Tx) Abort() {
	b := tx.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if tx.phase == Working {
		b.abortLocked(tx)
	}
}

// abortLocked finishes tx as aborted; b.mu held.
func (b *Bank) abortLocked(tx *Tx) {
	if tx.phase == Committed || tx.phase == Aborted {
		return
	}
	b.unlockWrites(tx)
	if tx.group != 0 {
		b.leaveGroupLocked(tx)
	}
	tx.phase = Aborted
	tx.outcome = fmt.Errorf("tx %d: %w", tx.id, ErrAborted)
	b.stats.Aborted++
	b.finishLocked(tx)
}

// applyLocked installs tx's new versions as committed (phase 3); b.mu held.
func (b *Bank) applyLocked(tx *Tx) {
	if tx.phase == Committed || tx.phase == Aborted {
		return
	}
	for _, id := range tx.order {
		v := tx.writes[id]
		old := b.objs[id]
		if v.deleted {
			delete(b.objs, id)
		} else {
			b.objs[id] = &object{data: v.data, seq: tx.seq, lent: v.lent}
		}
		if old != nil && old.lent {
			b.spare.put(old.data) // superseded, and nobody was handed it
		}
	}
	b.unlockWrites(tx)
	if gr := b.groups[tx.group]; gr != nil && tx.group != 0 {
		delete(gr.members, tx.id)
	}
	tx.phase = Committed
	tx.outcome = nil
	b.stats.Committed++
	b.finishLocked(tx)
}

func (b *Bank) unlockWrites(tx *Tx) {
	for _, id := range tx.order {
		if b.locks[id] == tx {
			delete(b.locks, id)
		}
	}
}

func (b *Bank) finishLocked(tx *Tx) {
	delete(b.running, tx.id)
	close(tx.done)
}

// newVersion builds the new version of an object from its committed
// version with p written at off, copying each byte once.
func newVersion(committed []byte, off int, p []byte) []byte {
	end := off + len(p)
	if off == 0 && end >= len(committed) {
		return append([]byte(nil), p...) // whole object rewritten: no zeroing
	}
	data := make([]byte, max(len(committed), end))
	copy(data, committed[:min(off, len(committed))])
	copy(data[off:], p)
	if end < len(committed) {
		copy(data[end:], committed[end:])
	}
	return data
}
