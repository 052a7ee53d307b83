// Package stm is Stable Transactional Memory, the software STM of the FTM
// paper (ftm-lessons.txt §3.3, Figure 5): stable objects that survive the
// crash of one machine, changed only by transactions, kept in a primary bank
// in this node's memory and mirrored to a backup bank on the partner node.
//
// Objects are byte ranges (8 KiB pages for the RVM pager, handed over with
// Put without a copy, lent with PutBorrowed: shipped from the caller's
// memory and copied into the bank during the round trip, or copied with
// PutCopies on every core, checksummed once) or typed values
// (Get/Set/Create, msgpack-encoded), each named by a stable ID. Transactions (Begin, Bytes/ReadAt, Put/WriteAt,
// Create/Insert/Delete, Commit/Abort; Update and View as closures) run
// concurrently. A transaction may instead Precommit into a group; the group
// commits or aborts as a whole when Decide is called (the checkpoint
// protocol's atomic action).
//
// Versions (Figure 5): the first write allocates a new version (working
// phase); phase 1 ships the new versions to the backup through the Mirror
// (one round trip, batched), after which the backup holds old and new;
// phase 2 waits for the group decision; phase 3 propagates it and both banks
// drop the losing version. A transaction in no group fuses phases 1 and 3:
// its decision is known when phase 1 leaves, so the backup applies on
// receipt and the commit costs one round trip. The primary keeps the old
// versions until phase 3, so an abort works even after the backup died.
//
// Naming (names.go; bbolt's buckets are the model): packages name their
// objects instead of choosing ids. A Namespace ("task", "rvm", "files",
// "screen", "servers") is a directory object mapping names to ids; the
// root directory at RootID, the only well-known id, maps namespaces to
// their directories. Bound ids are allocated by the bank (Tx.Create,
// Tx.Reserve for a range), so names never share an id. A binding is written
// in a transaction like any object (with its data, or first by
// Namespace.Resolve): old or new after a crash, mirrored to the backup. A
// directory holds one namespace's names, never a large id table (a
// segment's pages are a range the segment's own object records). Decoded
// committed directories are cached per bank and keyed by the committed
// version, so an aborted binding is never cached and a changed directory
// is decoded again; a lookup still records its read for validation.
//
// Takeover (Backup.Takeover): the backup becomes the primary with the next
// epoch; working-phase and phase-1 transactions are lost (old versions win),
// phase-2 transactions wait for their group decision, decided ones are
// complete. A stale primary is fenced: the promoted backup refuses its
// messages (ErrFenced). Commit is refused (ErrNoBackup) when no backup is
// reachable, unless Config.Alone grants the bank to commit alone (the
// node's lease from the group, package cluster, when the group records
// the bank with no backup). Attach gives a running primary a new backup and streams it a
// full copy while commits go on.
//
// Conflicts: write-write conflicts fail at once with ErrConflict (no
// waiting, no deadlock); reads are validated at commit against changes and
// against writers already committing. Committed transactions are
// serializable in the order of Tx.Seq.
//
// Invariants: a committed version is never modified in place (snapshots and
// readers share it); an object has at most one new version, owned by the
// transaction holding its write lock; the backup holds at most two versions
// of an object; backup versions alias the frame they arrived in (no copy)
// until less than half of that frame is live (checked once a whole request
// is applied), then the survivors are copied out; a frame received on a link
// that recycles buffers (link.Recycler) is given back to it only once every
// version it carried was installed and none aliases it any more, so the
// next bulk checkpoint is read into warm memory; PutCopies' copies are
// made on every core and each checksummed while in the cache, and a frame's
// CRC-32C is combined from those sums (crc32c.Shift) instead of read again;
// lent data (PutBorrowed)
// is replaced by the bank's own copy before it is applied or waits in phase
// 2, and Commit/Precommit return only once nothing reads it; the bank's
// copy of lent data is made in the buffer of a superseded copy when one of
// its size is spare, and a copy goes back to the spare buffers when it is
// superseded only if no reader was ever handed it (Bytes and a joining
// backup's snapshot mark it; mirrors only see the lent data itself); a transaction is reported committed only after the backup
// acknowledged its new versions (standalone) or its group decision.
//
// Lock order: Bank.mirrorMu before Bank.mu; Bank.mu is never held while
// calling the Mirror. FileMirror.syncMu before FileMirror.mu before
// Backup.mu (the log's in-memory image); FileMirror.mu is held while a
// message is written, not while it is synced, so concurrent committers
// share an fdatasync (group commit). Backup.mu is otherwise a leaf (its failpoint hook runs under it).
// RemoteMirror: sendMu before mu.
//
// Files: bank.go, tx.go, borrow.go, typed.go, commit.go, group.go (the
// primary); backup.go (the backup bank, takeover); mirror.go, local.go,
// remote.go, wire.go, tee.go (mirrors and the wire format; frame CRCs by
// internal/crc32c); attach.go (a backup joining); file.go, compact.go (the
// file-backed bank); names.go (naming); retry.go (Bank.UpdateRetry);
// inspect.go.
package stm
