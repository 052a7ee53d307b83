package link

import (
	"sync"
	"unsafe"
)

// Bodies recycles the buffers of the large frames a link receives, so a
// receiver that keeps what a bulk transfer brings (a backup bank holding a
// checkpoint's pages where they arrived) reads the next transfer into
// memory that is already mapped and warm instead of fresh allocations,
// whose page faults and zeroing cost the receiver more than the copy out
// of the socket. A receiver gives a frame's buffer back with Recycle once
// nothing refers to the frame any more; frames never given back are left to
// the garbage collector. Frames under bodyGrain are plain allocations.
//
// The buffers handed out are remembered by the address of their end (not
// by a pointer, so a buffer never given back can still be collected), and
// Recycle accepts only a body whose end and capacity match one of them.
type Bodies struct {
	mu   sync.Mutex
	free map[int][][]byte // buffers to reuse, by capacity
	held int              // bytes in free
	out  map[uintptr]int  // end address → capacity of the buffers handed out
}

// Bounds of a Bodies.
const (
	bodyGrain     = 64 << 10  // large frames' buffers are whole multiples of it
	bodiesMaxHeld = 128 << 20 // bytes kept for reuse at most
	bodiesMaxOut  = 8192      // buffers remembered at most (then forgotten)
	bodyMaxHead   = 64        // most bytes of a frame before its body
)

// Recycler is implemented by the links whose received frame bodies can be
// given back (TCP, and Mux channels over it).
type Recycler interface {
	// Bodies returns the link's buffer recycler, nil if it has none.
	Bodies() *Bodies
}

var (
	_ Recycler = (*TCP)(nil)
	_ Recycler = (*muxLink)(nil)
)

// Bodies returns the link's recycler of received frame buffers.
func (t *TCP) Bodies() *Bodies { return t.bodies }

// Bodies returns the parent link's recycler: a channel's frames are read
// from the parent.
func (c *muxLink) Bodies() *Bodies {
	if r, ok := c.m.l.(Recycler); ok {
		return r.Bodies()
	}
	return nil
}

func newBodies() *Bodies {
	return &Bodies{free: make(map[int][][]byte), out: make(map[uintptr]int)}
}

// get returns a buffer of n bytes for a frame: a recycled one when n is
// large and one of its size is free. A nil *Bodies allocates.
func (p *Bodies) get(n int) []byte {
	if p == nil || n < bodyGrain {
		return make([]byte, n)
	}
	c := (n + bodyGrain - 1) / bodyGrain * bodyGrain
	p.mu.Lock()
	defer p.mu.Unlock()
	var b []byte
	if l := p.free[c]; len(l) > 0 {
		b, p.free[c] = l[len(l)-1], l[:len(l)-1]
		p.held -= c
	} else {
		b = make([]byte, c)
	}
	if len(p.out) >= bodiesMaxOut {
		clear(p.out) // buffers lost by their receivers: forget them
	}
	p.out[endOf(b)] = c
	return b[:n]
}

// endOf returns the address just past b's capacity.
func endOf(b []byte) uintptr {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b))) + uintptr(cap(b))
}

// Recycle gives back the buffer of a frame received on this link: body is
// the frame's Body (or any part of it reaching to its end). The caller
// promises that nothing refers to the frame's bytes any more: the next
// large frame may be read into them. A body of a small frame, of another
// link or given back twice is ignored. A nil *Bodies ignores everything.
func (p *Bodies) Recycle(body []byte) {
	if p == nil || cap(body) == 0 {
		return
	}
	end := endOf(body)
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.out[end]
	if !ok || cap(body) > c || cap(body) < c-bodyMaxHead || p.held+c > bodiesMaxHeld {
		if ok {
			delete(p.out, end)
		}
		return
	}
	delete(p.out, end)
	// body reaches the end of a buffer of capacity c handed out by get and
	// still alive (the caller holds body): its start is c-cap(body) before.
	base := unsafe.Add(unsafe.Pointer(unsafe.SliceData(body)), cap(body)-c)
	p.free[c] = append(p.free[c], unsafe.Slice((*byte)(base), c))
	p.held += c
}
