package link

import (
	"context"
	"fmt"
	"time"
)

// VectorSender is the optional extension of Link that TCP and Mux channels
// implement: send one frame whose body is the concatenation of parts in
// one vectored write (writev), without copying the parts first. stm's
// RemoteMirror uses it (stm.VectorSender) so pages go from the primary's
// versions to the socket without an extra copy. The link does not keep
// parts after SendVec returns.
type VectorSender interface {
	SendVec(ctx context.Context, f Frame, parts [][]byte) error
}

var (
	_ VectorSender = (*TCP)(nil)
	_ VectorSender = (*muxLink)(nil)
)

// appendFrameHead appends the wire form of f up to (not including) a body
// of n bytes: length prefix, msgpack array header, service, kind, seq and
// the bin header. f.Body is ignored.
func appendFrameHead(dst []byte, f *Frame, n int) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, mpFixArray4)
	dst = appendUint(dst, uint64(f.Service))
	dst = appendUint(dst, uint64(f.Kind))
	dst = appendUint(dst, f.Seq)
	dst = appendBinHeader(dst, n)
	putLen(dst[start:], len(dst)-start-4+n)
	return dst
}

func putLen(b []byte, n int) {
	b[0], b[1], b[2], b[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
}

func partsLen(parts [][]byte) int {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	return n
}

// SendVec writes one frame whose body is the concatenation of parts, with
// one vectored write of the frame head and the parts themselves (no copy;
// over TLS the parts are joined into one write, which TLS copies anyway).
// The frame limit applies to the sum of the parts. Like Send, concurrent
// calls are serialized and a deadline on ctx bounds the write.
func (t *TCP) SendVec(ctx context.Context, f Frame, parts [][]byte) error {
	if err := t.Err(); err != nil {
		return err
	}
	n := partsLen(parts)
	if n+frameOverhead > t.max {
		return fmt.Errorf("%w: body of %d bytes, limit %d", ErrFrameTooLarge, n, t.max)
	}
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		_ = t.conn.SetWriteDeadline(dl)
		defer t.conn.SetWriteDeadline(time.Time{})
	}
	t.buf = appendFrameHead(t.buf[:0], &f, n)
	if t.tls != nil { // TLS makes a record of each write: join the parts
		for _, p := range parts {
			t.buf = append(t.buf, p...)
		}
		parts = nil
	}
	t.vec = append(append(t.vec[:0], t.buf), parts...)
	bufs := t.vec // WriteTo consumes its receiver; t.vec keeps the backing array
	_, err := bufs.WriteTo(t.conn)
	clear(t.vec) // do not pin the caller's parts
	if cap(t.buf) > 1<<20 {
		t.buf = nil // do not pin a large frame's buffer
	}
	if err != nil {
		t.fail(err)
		return t.Err()
	}
	return nil
}

// SendVec sends one frame tagged with this channel's service through the
// parent's SendVec, or through its Send with the parts joined when the
// parent has no vectored send.
func (c *muxLink) SendVec(ctx context.Context, f Frame, parts [][]byte) error {
	select {
	case <-c.closed:
		return ErrClosed
	default:
	}
	f.Service = c.svc
	if vs, ok := c.m.l.(VectorSender); ok {
		return vs.SendVec(ctx, f, parts)
	}
	f.Body = make([]byte, 0, partsLen(parts))
	for _, p := range parts {
		f.Body = append(f.Body, p...)
	}
	return c.m.l.Send(ctx, f)
}
