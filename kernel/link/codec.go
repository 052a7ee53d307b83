package link

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// DefaultMaxFrame bounds one frame on the wire (length prefix excluded)
// unless a Config says otherwise.
const DefaultMaxFrame = 16 << 20

// The msgpack encoding of a Frame is a fixarray of four elements:
// [service uint8, kind uint8, seq uint64, body bin]. It is written by hand
// (no reflection, no allocation) and is plain msgpack: any msgpack library,
// hashicorp/go-msgpack included, decodes it as a 4-element array.
const (
	mpFixArray4 = 0x94
	mpUint8     = 0xcc
	mpUint64    = 0xcf
	mpBin8      = 0xc4
	mpBin16     = 0xc5
	mpBin32     = 0xc6
)

// frameOverhead is the most bytes a frame adds around its body.
const frameOverhead = 4 + 1 + 2 + 2 + 9 + 5

// AppendFrame appends f's wire form (4-byte big-endian length, then the
// msgpack array) to dst.
func AppendFrame(dst []byte, f *Frame) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, mpFixArray4)
	dst = appendUint(dst, uint64(f.Service))
	dst = appendUint(dst, uint64(f.Kind))
	dst = appendUint(dst, f.Seq)
	dst = appendBinHeader(dst, len(f.Body))
	dst = append(dst, f.Body...)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// appendUint writes v in msgpack's shortest unsigned form.
func appendUint(dst []byte, v uint64) []byte {
	switch {
	case v < 0x80:
		return append(dst, byte(v))
	case v <= math.MaxUint8:
		return append(dst, mpUint8, byte(v))
	default:
		dst = append(dst, mpUint64, 0, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint64(dst[len(dst)-8:], v)
		return dst
	}
}

func appendBinHeader(dst []byte, n int) []byte {
	switch {
	case n <= math.MaxUint8:
		return append(dst, mpBin8, byte(n))
	case n <= math.MaxUint16:
		return append(dst, mpBin16, byte(n>>8), byte(n))
	default:
		return append(dst, mpBin32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// ReadFrame reads one frame from r. It never allocates more than max bytes
// for it: a length over max is refused with ErrFrameTooLarge before the body
// is read. The returned Body aliases a buffer owned by the caller from then on.
// A clean end of r before a frame starts is io.EOF; an end inside a frame is
// ErrCorruptFrame.
func ReadFrame(r io.Reader, max int) (Frame, error) {
	var fr frameReader
	return fr.read(r, max, nil)
}

// frameReader reads one frame in as many calls as it takes: an error from r
// (a read deadline, say) leaves the bytes read so far in place for the next
// call. The zero value is ready.
type frameReader struct {
	hdr  [4]byte
	nh   int    // header bytes read
	body []byte // allocated once the header is in and checked
	nb   int    // body bytes read
}

// read reads the frame on, taking its buffer from bodies (nil: allocated).
func (fr *frameReader) read(r io.Reader, max int, bodies *Bodies) (Frame, error) {
	for fr.nh < len(fr.hdr) {
		n, err := r.Read(fr.hdr[fr.nh:])
		fr.nh += n
		if err != nil && fr.nh < len(fr.hdr) {
			return Frame{}, fr.cut(err, fr.nh > 0)
		}
	}
	if fr.body == nil {
		n := binary.BigEndian.Uint32(fr.hdr[:])
		if uint64(n) > uint64(max) {
			return Frame{}, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
		}
		fr.body = bodies.get(int(n))
	}
	for fr.nb < len(fr.body) {
		n, err := r.Read(fr.body[fr.nb:])
		fr.nb += n
		if err != nil && fr.nb < len(fr.body) {
			return Frame{}, fr.cut(err, true)
		}
	}
	b := fr.body
	*fr = frameReader{}
	return DecodeFrame(b)
}

// cut turns an end of input inside a frame into ErrCorruptFrame; other
// errors (a deadline, a reset) pass through and keep the partial frame.
func (fr *frameReader) cut(err error, inside bool) error {
	if err == io.EOF && inside {
		return fmt.Errorf("%w: truncated at %d header + %d body bytes", ErrCorruptFrame, fr.nh, fr.nb)
	}
	return err
}

// DecodeFrame decodes the msgpack array of one frame (without its length
// prefix). Body aliases b. Anything but exactly one well-formed frame is an
// error wrapping ErrCorruptFrame.
func DecodeFrame(b []byte) (Frame, error) {
	d := decoder{b: b}
	if d.byte() != mpFixArray4 {
		return Frame{}, d.fail("not a 4-element array")
	}
	var f Frame
	svc, kind := d.uint(math.MaxUint8), d.uint(math.MaxUint8)
	f.Service, f.Kind = Service(svc), uint8(kind)
	f.Seq = d.uint(math.MaxUint64)
	f.Body = d.bin()
	if d.err == "" && d.off != len(b) {
		d.err = "trailing bytes"
	}
	if d.err != "" {
		return Frame{}, d.fail(d.err)
	}
	return f, nil
}

// decoder reads msgpack from a byte slice, recording the first error.
type decoder struct {
	b   []byte
	off int
	err string
}

func (d *decoder) fail(why string) error {
	return fmt.Errorf("%w: %s at byte %d", ErrCorruptFrame, why, d.off)
}

func (d *decoder) take(n int) []byte {
	if d.err != "" {
		return nil
	}
	if n < 0 || len(d.b)-d.off < n {
		d.err = "truncated"
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) byte() byte {
	p := d.take(1)
	if p == nil {
		return 0
	}
	return p[0]
}

// uint reads a msgpack unsigned integer no larger than max.
func (d *decoder) uint(max uint64) uint64 {
	var v uint64
	switch t := d.byte(); {
	case d.err != "":
		return 0
	case t < 0x80:
		v = uint64(t)
	case t == mpUint8:
		v = uint64(d.byte())
	case t == 0xcd:
		if p := d.take(2); p != nil {
			v = uint64(binary.BigEndian.Uint16(p))
		}
	case t == 0xce:
		if p := d.take(4); p != nil {
			v = uint64(binary.BigEndian.Uint32(p))
		}
	case t == mpUint64:
		if p := d.take(8); p != nil {
			v = binary.BigEndian.Uint64(p)
		}
	default:
		d.err = "expected an unsigned integer"
	}
	if v > max && d.err == "" {
		d.err = "integer out of range"
	}
	return v
}

// bin reads a msgpack bin (or nil, for an empty body encoded by another
// library).
func (d *decoder) bin() []byte {
	var n int
	switch t := d.byte(); {
	case d.err != "":
		return nil
	case t == 0xc0: // nil
		return nil
	case t == mpBin8:
		n = int(d.byte())
	case t == mpBin16:
		if p := d.take(2); p != nil {
			n = int(binary.BigEndian.Uint16(p))
		}
	case t == mpBin32:
		if p := d.take(4); p != nil {
			n = int(binary.BigEndian.Uint32(p))
		}
	default:
		d.err = "expected a bin body"
		return nil
	}
	return d.take(n)
}
