package connlink

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/ftm-in-go/ftm/kernel/link"
)

// MaxFrame bounds one frame (header and body).
const MaxFrame = 64 << 20

const headerLen = 4 + 1 + 1 + 8

// Conn is a link.Link over a net.Conn.
type Conn struct {
	c    net.Conn
	peer string
	r    *bufio.Reader // owned by the goroutine calling Recv

	sendMu sync.Mutex      // serializes writes
	hdr    [headerLen]byte // guarded by sendMu

	errMu sync.Mutex    // guards err
	err   error         // why the link ended
	done  chan struct{} // closed when the link ends
}

var _ link.Link = (*Conn)(nil)

// New wraps c; peer names the other side.
func New(c net.Conn, peer string) *Conn {
	return &Conn{c: c, peer: peer, r: bufio.NewReaderSize(c, 64<<10), done: make(chan struct{})}
}

// Send writes f as one frame.
func (l *Conn) Send(ctx context.Context, f link.Frame) error {
	if err := l.alive(ctx); err != nil {
		return err
	}
	if len(f.Body)+headerLen > MaxFrame {
		return fmt.Errorf("send %d bytes: %w", len(f.Body), link.ErrFrameTooLarge)
	}
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	h := l.hdr[:]
	binary.BigEndian.PutUint32(h[0:], uint32(headerLen-4+len(f.Body)))
	h[4], h[5] = byte(f.Service), f.Kind
	binary.BigEndian.PutUint64(h[6:], f.Seq)
	bufs := net.Buffers{h, f.Body}
	if _, err := bufs.WriteTo(l.c); err != nil {
		return l.fail(err)
	}
	return nil
}

// SendVec writes one frame whose body is the concatenation of parts, with
// a single writev and no copy (stm.VectorSender).
func (l *Conn) SendVec(ctx context.Context, f link.Frame, parts [][]byte) error {
	if err := l.alive(ctx); err != nil {
		return err
	}
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n+headerLen > MaxFrame {
		return fmt.Errorf("send %d bytes: %w", n, link.ErrFrameTooLarge)
	}
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	h := l.hdr[:]
	binary.BigEndian.PutUint32(h[0:], uint32(headerLen-4+n))
	h[4], h[5] = byte(f.Service), f.Kind
	binary.BigEndian.PutUint64(h[6:], f.Seq)
	bufs := make(net.Buffers, 0, len(parts)+1)
	bufs = append(append(bufs, h), parts...)
	if _, err := bufs.WriteTo(l.c); err != nil {
		return l.fail(err)
	}
	return nil
}

// Recv reads the next frame; its Body is freshly allocated and owned by the
// caller.
func (l *Conn) Recv(ctx context.Context) (link.Frame, error) {
	if err := l.alive(ctx); err != nil {
		return link.Frame{}, err
	}
	var h [headerLen]byte
	if _, err := io.ReadFull(l.r, h[:]); err != nil {
		return link.Frame{}, l.fail(err)
	}
	n := int(binary.BigEndian.Uint32(h[0:]))
	if n < headerLen-4 || n+4 > MaxFrame {
		return link.Frame{}, l.fail(fmt.Errorf("frame of %d bytes: %w", n, link.ErrFrameTooLarge))
	}
	f := link.Frame{Service: link.Service(h[4]), Kind: h[5], Seq: binary.BigEndian.Uint64(h[6:])}
	f.Body = make([]byte, n-(headerLen-4))
	if _, err := io.ReadFull(l.r, f.Body); err != nil {
		return link.Frame{}, l.fail(err)
	}
	return f, nil
}

func (l *Conn) alive(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-l.done:
		return l.Err()
	default:
		return nil
	}
}

// fail ends the link with cause err (wrapped in link.ErrClosed).
func (l *Conn) fail(err error) error {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	if l.err == nil {
		if !errors.Is(err, link.ErrClosed) && !errors.Is(err, link.ErrFrameTooLarge) {
			err = fmt.Errorf("%w: %w", link.ErrClosed, err)
		}
		l.err = err
		close(l.done)
		_ = l.c.Close()
	}
	return l.err
}

// Close ends the link.
func (l *Conn) Close() error {
	_ = l.fail(link.ErrClosed)
	return nil
}

// Done is closed once the link has ended.
func (l *Conn) Done() <-chan struct{} { return l.done }

// Err says why the link ended.
func (l *Conn) Err() error {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.err
}

// Peer names the other side.
func (l *Conn) Peer() string { return l.peer }

// Pair returns two ends of a loopback TCP connection.
func Pair() (*Conn, *Conn, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	r := <-ch
	if r.err != nil {
		_ = a.Close()
		return nil, nil, r.err
	}
	return New(a, "b"), New(r.c, "a"), nil
}
