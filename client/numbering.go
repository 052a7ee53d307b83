package client

import "sync"

// numbering gives a Conn's requests their ids in the servers' duplicate
// tables: one client id, a number per call (kept by every retry), and the
// lowest number still in flight (every request below it was answered, so
// the servers may forget them).
type numbering struct {
	client string

	mu       sync.Mutex // guards the fields below; never held across a call
	next     uint64
	inFlight map[uint64]struct{}
}

func newNumbering(client string) *numbering {
	return &numbering{client: client, next: 1, inFlight: map[uint64]struct{}{}}
}

// begin numbers a new call.
func (n *numbering) begin() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	seq := n.next
	n.next++
	n.inFlight[seq] = struct{}{}
	return seq
}

// end marks seq answered (or given up).
func (n *numbering) end(seq uint64) {
	n.mu.Lock()
	delete(n.inFlight, seq)
	n.mu.Unlock()
}

// low is the lowest number still in flight (or the next one).
func (n *numbering) low() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	low := n.next
	for seq := range n.inFlight {
		low = min(low, seq)
	}
	return low
}
