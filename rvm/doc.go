// Package rvm is FTM's recoverable virtual memory (paper §4.1, §6): the
// memory of an ordinary task, organised as named segments, checkpointed by
// saving only the pages written since the previous checkpoint, and restored
// byte for byte after a crash.
//
// A Segment is page-granular memory (8 KiB pages by default, like the
// paper) mapped outside the Go heap with mmap, which the task reads and
// writes as a plain []byte or through typed views (typed.go: Slice[T] and
// View[T] for plain types — numbers, and arrays and structs of them — no
// unsafe in the task's code; a type holding a pointer is refused with
// ErrNotPlain; a view stays valid across a restore). A segment is named; a restore fills the segment of
// the same name at the same offsets.
//
// Finding the pages to save needs no annotation of writes. A Tracker does
// it; two exist, chosen per segment at creation with a log line saying which
// runs and why (Config.Method: Auto, Compare, WriteTrack):
//
//   - Compare: each page is compared with the image saved at the last
//     checkpoint (bytes.Equal, vectorised), at memory bandwidth. A write that
//     restores a page's old bytes leaves it clean. Costs a shadow copy of
//     the segment.
//   - WriteTrack: the kernel tracks writes: userfaultfd write-protection in
//     asynchronous mode (UFFD_FEATURE_WP_ASYNC: a write unprotects the page
//     in the kernel, no handler thread) and the PAGEMAP_SCAN ioctl on
//     /proc/self/pagemap, which reports written pages and write-protects them
//     again in one call. A write that restores old bytes still counts as
//     dirty. Linux 6.7+, root or vm.unprivileged_userfaultfd; elsewhere Auto
//     falls back to Compare. Auto compares segments of at most
//     AutoCompareMax bytes: the scan that write-protects written pages
//     again flushes the TLB, tens to hundreds of µs a call however few
//     pages were written, more than comparing a small segment.
//
// An optional Hint(off, n) says a range was written; Compare then saves
// those pages without comparing them. It is never needed for correctness.
//
// Checkpoint(ctx, store, segs...) saves a task's dirty pages; with a
// BatchStore (MemStore, CrashStore, STMStore) all its segments are saved as
// one atomic batch, so a restore never mixes two checkpoints. STMStore keeps
// each page as an STM object (the image, copied by STM with PutCopies, and
// its CRC-32C in a checksum object: the sum PutCopies computes while it
// copies, which the mirror's frames reuse) and a checkpoint is one STM
// transaction, mirrored to the backup bank. Each segment is named in the
// "rvm" STM namespace and owns the page ids it reserved, so segments never
// overlap each other or other packages' objects; DropSegments frees them.
// An STMStore remembers each segment's object with its committed bytes, so
// a checkpoint of a segment whose page count did not change reads that one
// object and no directory; the entry is used only while the transaction
// sees the same bytes at the same id (ids are never handed out twice, and a
// segment object exists exactly while its name is bound). CrashStore has named failpoints
// for crash tests. A task is stopped for a checkpoint at a SafePoint: Poll is
// an atomic load when nobody waits, and with AttachTask every kernel call of
// the task is one (kernel.Task.SetSafePoint: the entry of Send and Receive,
// and the whole time they wait, so a task blocked in Receive is checkpointed
// where it waits and held there until Resume). Stop reports ErrNoSafePoint,
// naming the task and the time waited, when the task reaches none within the
// timeout (on the injected kernel/clock Clock).
//
// Invariants: after Checkpoint returns nil, the store holds, for every page,
// exactly the bytes the segment held when the checkpoint began; a page found
// dirty stays dirty (carried over) until a checkpoint saved it, so a failed
// save loses nothing; Restore fills the segment from the store or fails with
// an error and leaves the segment untouched, never a partial image; a
// corrupt saved page is detected by its checksum (ErrCorruptPage).
//
// Concurrency: the task writes segment memory without locks; checkpoint,
// restore and Dirty must run while the task is stopped (at a safe point, or
// not yet started). Segment.mu guards the tracker and the dirty sets.
// Lock order: SafePoint.mu is never held while a Segment.mu is taken;
// Checkpoint takes the Segment.mu of its segments in argument order, then
// the store's own lock (MemStore.mu, CrashStore.mu) or STM's.
//
// A goroutine's stack is not captured: a task is re-entered from its entry
// function after a restore and finds its progress in its segments (see
// README.md).
package rvm
