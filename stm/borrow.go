package stm

import "bytes"

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
}

// copyBorrowed starts copying tx's borrowed versions. It runs once the
// transaction has left its working phase: its versions no longer change.
func (tx *Tx) copyBorrowed() *lentCopy {
	var lc *lentCopy
	for _, id := range tx.order {
		if v := tx.writes[id]; v.borrowed {
			if lc == nil {
				lc = &lentCopy{done: make(chan struct{})}
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
		lc.copies[i] = bytes.Clone(v.data)
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
		v.data, v.borrowed = lc.copies[i], false
	}
}
