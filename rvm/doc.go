// Package rvm is FTM's recoverable virtual memory (paper §4.1, §6): the
// memory of an ordinary task, organised as named segments, checkpointed by
// saving only the pages written since the previous checkpoint, and restored
// byte for byte after a crash.
//
// A Segment is page-granular memory (8 KiB pages by default, like the
// paper) mapped outside the Go heap with mmap, which the task reads and
// writes as a plain []byte or through typed views. Finding the pages to save
// needs no annotation of writes. Two trackers exist:
//
//   - Compare: each page is compared with the image saved at the last
//     checkpoint (bytes.Equal, vectorised), at memory bandwidth. A write that
//     restores a page's old bytes leaves it clean.
//   - WriteTrack: the kernel tracks writes: userfaultfd write-protection in
//     asynchronous mode (UFFD_FEATURE_WP_ASYNC) and the PAGEMAP_SCAN ioctl,
//     which reports written pages and write-protects them again in one call.
//     A write that restores old bytes still counts as dirty. Chosen when the
//     kernel offers it (Linux 6.7+, root or vm.unprivileged_userfaultfd),
//     with a log line saying which tracker runs and why.
//
// An optional Hint(off, n) tells the segment a range was written; it makes
// nothing cheaper for WriteTrack and is never needed for correctness.
//
// Invariants: after Checkpoint returns nil, the store holds, for every page,
// exactly the bytes the segment held when the checkpoint began; a page
// reported dirty stays dirty (carried over) until a checkpoint saved it;
// Restore fills the segment from the store or fails with an error, never
// with a partial image; a corrupt saved page is detected by its checksum.
//
// A goroutine's stack is not captured: a task is re-entered from its entry
// function after a restore and finds its progress in its segments.
package rvm
