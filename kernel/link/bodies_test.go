package link

import (
	"bytes"
	"context"
	"testing"
)

// A large frame's buffer given back is the one the next frame of its size
// is read into; small frames, foreign buffers and second returns are not
// taken.
func TestBodiesRecycleLargeFrames(t *testing.T) {
	p := newBodies()
	b := p.get(1<<20 + 20)
	body := b[20:]
	p.Recycle(body)
	if p.held == 0 {
		t.Fatal("a large frame's body given back was not kept")
	}
	p.Recycle(body) // twice: ignored
	if p.held != 1<<20+bodyGrain {
		t.Fatalf("held %d bytes after a second return, want one buffer", p.held)
	}
	again := p.get(1<<20 + 7)
	if &again[:1][0] != &b[:1][0] {
		t.Fatal("the next frame of that size was not read into the recycled buffer")
	}
	p.Recycle(make([]byte, 1<<20)) // not from p
	small := p.get(100)
	p.Recycle(small[5:])
	if p.held != 0 {
		t.Fatalf("held %d bytes of buffers that were not p's large ones", p.held)
	}
}

// Frames received on a TCP link come from its Bodies, and a recycled
// frame's buffer carries the next large frame intact.
func TestTCPRecyclesFrameBodies(t *testing.T) {
	a, b := tcpPair(t, Config{Name: "a", Secret: secret}, Config{Name: "b", Secret: secret})
	ctx := context.Background()
	big := bytes.Repeat([]byte{7}, 300<<10)
	r, ok := Link(b).(Recycler)
	if !ok || r.Bodies() == nil {
		t.Fatal("TCP has no Bodies")
	}
	var first []byte
	for i := range 3 {
		big[0] = byte(i)
		if err := a.Send(ctx, Frame{Service: ServiceSTM, Kind: 1, Body: big}); err != nil {
			t.Fatal(err)
		}
		f, err := b.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Body, big) {
			t.Fatalf("frame %d arrived changed", i)
		}
		if i == 0 {
			first = f.Body
		} else if &f.Body[0] != &first[0] {
			t.Fatalf("frame %d was not read into the recycled buffer", i)
		}
		r.Bodies().Recycle(f.Body)
	}
}
