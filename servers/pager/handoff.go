package pager

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
)

// Pages lent by reference. A task's segment servers run on its bank's
// driver, in the task's own process, so a save need not carry page images
// through the call path (encoded into the request, copied by the
// transport, decoded into new slices: several copies of every page and an
// encoding by reflection of the page map). The pager lends the pages: it
// files them here under a number, the save request carries the number and
// this process's nonce, and the segment server takes the images from here
// into its state. Everything else about the call is unchanged: its
// write-ahead record, its dependency, its retry under the same request id,
// the duplicate table. The pages stay filed until the call returns, so a
// retried request, or one re-executed after the segment's unit restarted,
// finds them again. A server in another process (another nonce) refuses
// the save with errNotLent and the pager sends that unit its pages inline.
//
// The images lent must not change while the server may hold them (in its
// pending pages until they become page objects, or in S if its RU commits
// alone): the pager lends only private copies (the task's captured pages,
// or copies it makes of live segment memory).

// processNonce names this process in a lent save.
var processNonce = newNonce()

func newNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// lent is the process's table of pages lent to its segment servers.
var lent = struct {
	mu   sync.Mutex
	next uint64
	m    map[uint64]map[int][]byte
}{m: map[uint64]map[int][]byte{}}

// lend files pages and returns their number (never 0).
func lend(pages map[int][]byte) uint64 {
	lent.mu.Lock()
	defer lent.mu.Unlock()
	lent.next++
	lent.m[lent.next] = pages
	return lent.next
}

// borrow returns the pages filed under ref by the process named proc;
// false if they are not (another process, or returned).
func borrow(proc string, ref uint64) (map[int][]byte, bool) {
	if proc != processNonce {
		return nil, false
	}
	lent.mu.Lock()
	defer lent.mu.Unlock()
	pages, ok := lent.m[ref]
	return pages, ok
}

// giveBack removes the pages filed under ref: their call returned.
func giveBack(ref uint64) {
	lent.mu.Lock()
	defer lent.mu.Unlock()
	delete(lent.m, ref)
}
