package stm

import "context"

// Mirror is all the primary bank knows of its backup bank (paper §3.3: the
// second RAM bank in the partner machine). Every call is one round trip; the
// implementation batches a message's objects into as few transfers as it can.
//
// Implementations: LocalMirror (in-process, for tests and single-process
// pairs) and RemoteMirror (over a link.Link to a backup in another process).
type Mirror interface {
	// Prepare is phase 1: it ships a transaction's new versions. The backup
	// then holds both the old and the new version of every object. When
	// p.Commit is set (a transaction outside any group, whose decision is
	// known at once) the backup applies the new versions on receipt: phase 1
	// and phase 3 travel in one round trip.
	Prepare(ctx context.Context, p *Prepare) error
	// Decide is phase 3 for a group: commit or abort every transaction of
	// the group the backup holds in phase 2, dropping the losing versions.
	Decide(ctx context.Context, d *Decision) error
	// Load streams a full copy to a joining backup, one chunk per call; the
	// first chunk (First) resets the backup and sets its epoch, the last
	// (Last) makes it ready to take over.
	Load(ctx context.Context, c *Chunk) error
	// Close releases the mirror; later calls fail.
	Close() error
}

// Write is one new object version (or a deletion) in a Prepare or a Chunk.
type Write struct {
	ID      ID
	Seq     uint64 // commit sequence of the transaction that wrote it
	Deleted bool
	Data    []byte // the new version; the receiver must copy or own it

	mem *frameMem // set by the decoder when Data aliases a shared frame
	// lent: Data is the writer's memory (PutBorrowed) or a copy the bank
	// may reuse once a later commit supersedes it (PutCopies), stable only
	// until the commit returns; a receiver that keeps it past its call
	// copies it.
	lent bool
	// summed: sum is the CRC-32C of Data (PutCopies), so the encoder
	// combines it into the frame's CRC instead of reading Data again.
	summed bool
	sum    uint32
}

// Prepare is the phase 1 message of one transaction.
type Prepare struct {
	Epoch  uint64
	Tx     TxID
	Group  GroupID // 0 when the transaction is in no group
	Commit bool    // decided already: apply on receipt (no group)
	NextID ID      // the primary's id allocator, so a takeover never reuses ids
	Writes []Write
}

// Decision is the phase 3 message of a group.
type Decision struct {
	Epoch  uint64
	Group  GroupID
	Commit bool
}

// Chunk is one piece of the full copy sent to a joining backup.
type Chunk struct {
	Epoch   uint64
	First   bool // reset the backup bank and adopt Epoch
	Last    bool // the copy is complete
	NextID  ID
	Seq     uint64 // the primary's last commit sequence when the copy began
	Objects []Write
}

func (p *Prepare) bytes() int {
	n := 0
	for i := range p.Writes {
		n += len(p.Writes[i].Data)
	}
	return n
}
