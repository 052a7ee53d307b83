// Package connlink is a minimal link.Link over a net.Conn, used by the stm
// package's tests and benchmarks to measure mirroring without kernel/link's
// authenticated TCP link and its Mux (stm/BENCH.md compares both). Wire:
// a 4-byte big-endian length of what follows, then service (1 byte), kind
// (1 byte), seq (8 bytes, big-endian) and the body. It does no
// authentication; loopback only.
//
// Invariants: frames from one Send are written with a single writev, so
// concurrent Sends never interleave; a frame longer than MaxFrame ends the
// link with link.ErrFrameTooLarge before its body is allocated.
//
// Lock order: sendMu and errMu are leaves.
package connlink
