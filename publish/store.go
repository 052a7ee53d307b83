package publish

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/stm"
)

// names is the namespace of the recorder's objects in a bank: for a task
// named N, "N/head" (head) and "N/ckpt" (checkpoint); its log entries sit
// in ranges of chunkLen ids reserved in the bank, listed by the head.
const names = stm.Namespace("publish")

// chunkLen is how many log entries one reserved id range holds.
const chunkLen = 256

// head is a published task's log: the range of it kept, the per-sender
// sequence numbers and the highest number the task itself has sent
// (publishing.txt §3.2).
type head struct {
	First   uint64            `codec:"f"` // index of the first kept entry (the checkpoint's Index)
	Next    uint64            `codec:"n"` // index the next recorded message gets
	Sent    uint64            `codec:"s"` // highest sequence number the task has sent
	Bytes   int               `codec:"b"` // size of the kept entries
	Senders map[uint64]uint64 `codec:"p"` // per published sender (Message.SenderID): its last number received
	Chunks  map[uint64]stm.ID `codec:"c"` // chunk number (index/chunkLen) -> its first id
}

// entryID is where the entry with index i lives.
func (h *head) entryID(i uint64) stm.ID { return h.Chunks[i/chunkLen] + stm.ID(i%chunkLen) }

// Entry is one recorded message: what the task received, in receive
// order, with the sender's sequence number. Rights are kept as the names
// the task got for them (valid while its kernel task lives).
type Entry struct {
	Index     uint64             `codec:"i"`
	Sender    uint64             `codec:"s"` // a published sender's Message.SenderID (0: not published)
	Seq       uint64             `codec:"q"` // its number for this message (Message.SenderSeq)
	RU        uint64             `codec:"u"` // the sender's Message.RU
	At        int64              `codec:"t"` // receive time (unix ns): the task's clock for this message
	ID        uint32             `codec:"m"`
	Dest      kernel.Name        `codec:"d"`
	Reply     kernel.Name        `codec:"r"`
	ReplyType kernel.RightType   `codec:"y"`
	Body      []byte             `codec:"b"`
	OOL       [][]byte           `codec:"o,omitempty"`
	Rights    []kernel.PortRight `codec:"x,omitempty"`
}

// size is what the entry counts for against the checkpoint (§5's rule).
func (e *Entry) size() int {
	n := 48 + len(e.Body) + 8*len(e.Rights)
	for _, o := range e.OOL {
		n += len(o)
	}
	return n
}

// message rebuilds the message the task received.
func (e *Entry) message() *kernel.Message {
	return &kernel.Message{Dest: e.Dest, Reply: e.Reply, ReplyType: e.ReplyType, ID: e.ID,
		RU: e.RU, SenderID: e.Sender, SenderSeq: e.Seq, Body: e.Body, OOL: e.OOL, Rights: e.Rights}
}

// checkpoint is a task's state after it handled the log's first Index
// messages and sent Sent.
type checkpoint struct {
	Index uint64 `codec:"i"`
	Sent  uint64 `codec:"s"`
	State []byte `codec:"b"`
}

// store is one task's objects in a bank. Used by the task's goroutine
// only, the one writer of its objects.
type store struct {
	bank         *stm.Bank
	headID, ckID stm.ID
	// cache is the head as last committed, so that recording a message
	// does not read and decode it; nil after a failed commit (read again).
	cache *head
}

// clone copies h, maps included.
func (h head) clone() head {
	h.Senders, h.Chunks = maps.Clone(h.Senders), maps.Clone(h.Chunks)
	return h
}

// head returns a copy of the task's head for tx to change.
func (s *store) head(tx *stm.Tx) (head, error) {
	if s.cache != nil {
		return s.cache.clone(), nil
	}
	return stm.Get[head](tx, s.headID)
}

// committed caches h when the commit that wrote it succeeded.
func (s *store) committed(h head, err error) error {
	s.cache = nil
	if err == nil {
		s.cache = &h
	}
	return err
}

// openStore binds (or finds) the task's head and checkpoint names.
func openStore(ctx context.Context, bank *stm.Bank, task string) (*store, error) {
	h, err := names.Resolve(ctx, bank, task+"/head")
	if err != nil {
		return nil, err
	}
	c, err := names.Resolve(ctx, bank, task+"/ckpt")
	if err != nil {
		return nil, err
	}
	return &store{bank: bank, headID: h, ckID: c}, nil
}

// Recorded reports whether bank b records the published task named task
// (its head). It reads only: it commits nothing, so it works on a bank
// that refuses commits.
func Recorded(b *stm.Bank, task string) (bool, error) {
	tx := b.Begin() // never committed: a read-only commit needs a backup
	defer tx.Abort()
	id, ok, err := names.Lookup(tx, task+"/head")
	if err != nil || !ok {
		return false, err
	}
	return tx.Exists(id)
}

// exists reports whether the task has a record.
func (s *store) exists(ctx context.Context) (bool, error) {
	var ok bool
	err := s.bank.View(ctx, func(tx *stm.Tx) error {
		var err error
		ok, err = tx.Exists(s.headID)
		return err
	})
	return ok, err
}

// create records a new task: an empty log and its initial checkpoint.
func (s *store) create(ctx context.Context, state []byte) error {
	return s.bank.Update(ctx, func(tx *stm.Tx) error {
		if ok, err := tx.Exists(s.headID); err != nil || ok {
			return fmt.Errorf("%w (%v)", ErrExists, err)
		}
		h := head{Senders: map[uint64]uint64{}, Chunks: map[uint64]stm.ID{}}
		if err := stm.Set(tx, s.headID, h); err != nil {
			return err
		}
		return stm.Set(tx, s.ckID, checkpoint{State: state})
	})
}

// errDuplicate: a published sender's message whose number the log has
// already received (the sender recovered and sent it again).
var errDuplicate = errors.New("publish: duplicate message")

// append records e (its Index is given here) and the highest sent
// number; it returns the head as committed, or errDuplicate, recording
// nothing, for a number of e's sender already received.
func (s *store) append(ctx context.Context, e *Entry, sent uint64) (head, error) {
	var h head
	err := s.bank.Update(ctx, func(tx *stm.Tx) error {
		var err error
		if h, err = s.head(tx); err != nil {
			return err
		}
		if e.Sender != 0 {
			if e.Seq <= h.Senders[e.Sender] {
				return errDuplicate
			}
			h.Senders[e.Sender] = e.Seq
		}
		e.Index = h.Next
		if _, ok := h.Chunks[e.Index/chunkLen]; !ok {
			first, err := tx.Reserve(chunkLen)
			if err != nil {
				return err
			}
			h.Chunks[e.Index/chunkLen] = first
		}
		data, err := stm.Encode(e)
		if err != nil {
			return err
		}
		if err := tx.Put(h.entryID(e.Index), data); err != nil {
			return err
		}
		h.Next++
		h.Bytes += e.size()
		h.Sent = max(h.Sent, sent)
		return stm.Set(tx, s.headID, h)
	})
	if errors.Is(err, errDuplicate) {
		return h, err // nothing changed: the cache stands
	}
	return h, s.committed(h, err)
}

// setSent records the highest number the task has sent.
func (s *store) setSent(ctx context.Context, sent uint64) error {
	var h head
	err := s.bank.UpdateRetry(ctx, func(tx *stm.Tx) error {
		var err error
		if h, err = s.head(tx); err != nil || h.Sent >= sent {
			return err
		}
		h.Sent = sent
		return stm.Set(tx, s.headID, h)
	})
	return s.committed(h, err)
}

// checkpoint stores c and discards the entries it covers (and their
// chunks), in one transaction: after a crash the old checkpoint with its
// whole log, or the new one with the rest.
func (s *store) checkpoint(ctx context.Context, c checkpoint) error {
	var h head
	err := s.bank.Update(ctx, func(tx *stm.Tx) error {
		var err error
		if h, err = s.head(tx); err != nil {
			return err
		}
		all := c.Index == h.Next // the whole log: no entry's size is needed
		for i := h.First; i < c.Index; i++ {
			if err := s.discard(tx, &h, i, all); err != nil {
				return err
			}
		}
		h.First = c.Index
		if all {
			h.Bytes = 0
		}
		if err := stm.Set(tx, s.ckID, c); err != nil {
			return err
		}
		return stm.Set(tx, s.headID, h)
	})
	return s.committed(h, err)
}

// discard deletes entry i, and forgets its chunk when i was its last;
// unless all entries go, it subtracts i's size from the log's.
func (s *store) discard(tx *stm.Tx, h *head, i uint64, all bool) error {
	if !all {
		data, err := tx.Bytes(h.entryID(i))
		if err != nil {
			return err
		}
		e, err := stm.Decode[Entry](data)
		if err != nil {
			return err
		}
		h.Bytes -= e.size()
	}
	if i%chunkLen == chunkLen-1 {
		delete(h.Chunks, i/chunkLen)
	}
	return tx.Delete(h.entryID(i))
}

// record is what a recovery reads of a task: its last checkpoint, its
// head, and the entries logged since the checkpoint, in receive order.
type record struct {
	ckpt    checkpoint
	head    head
	entries []Entry
}

// load reads the task's record.
func (s *store) load(ctx context.Context) (record, error) {
	var (
		c  checkpoint
		h  head
		es []Entry
	)
	err := s.bank.View(ctx, func(tx *stm.Tx) error {
		var err error
		if h, err = stm.Get[head](tx, s.headID); err != nil {
			return fmt.Errorf("%w: %w", ErrNotPublished, err)
		}
		if c, err = stm.Get[checkpoint](tx, s.ckID); err != nil {
			return err
		}
		es = make([]Entry, 0, h.Next-c.Index)
		for i := c.Index; i < h.Next; i++ {
			data, err := tx.Bytes(h.entryID(i))
			if err != nil {
				return fmt.Errorf("log entry %d: %w", i, err)
			}
			e, err := stm.Decode[Entry](data)
			if err != nil {
				return fmt.Errorf("log entry %d: %w", i, err)
			}
			es = append(es, e)
		}
		return nil
	})
	return record{ckpt: c, head: h, entries: es}, err
}
