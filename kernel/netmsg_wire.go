package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The netmsg wire forms (wireMsg, wireCtl, wireRight) are msgpack maps keyed
// by one-letter strings, written and read here by hand: no reflection and,
// on the read side, no copy (byte fields alias the frame's body, which the
// link hands over). The encoder writes the shortest msgpack forms and omits
// empty fields; the decoder accepts any msgpack a general library writes for
// these structs (keys in any order, bytes as bin or str, integers in any
// width, nil for an absent field, unknown keys skipped), so a peer may use
// either. Whatever the input, decoding returns a value or an error wrapping
// ErrCorruptWire; it never panics and never allocates more than the input
// can hold.

// ErrCorruptWire is returned for a netmsg frame body that is not a
// well-formed wire message.
var ErrCorruptWire = errors.New("kernel: corrupt netmsg frame")

// msgpack type bytes used by the netmsg wire forms.
const (
	mpNil    = 0xc0
	mpFalse  = 0xc2
	mpTrue   = 0xc3
	mpBin8   = 0xc4
	mpBin16  = 0xc5
	mpBin32  = 0xc6
	mpUint8  = 0xcc
	mpUint16 = 0xcd
	mpUint32 = 0xce
	mpUint64 = 0xcf
	mpInt8   = 0xd0
	mpInt16  = 0xd1
	mpInt32  = 0xd2
	mpInt64  = 0xd3
	mpStr8   = 0xd9
	mpStr16  = 0xda
	mpStr32  = 0xdb
	mpArr16  = 0xdc
	mpArr32  = 0xdd
	mpMap16  = 0xde
	mpMap32  = 0xdf
)

// maxWireDepth bounds the nesting of skipped unknown values.
const maxWireDepth = 8

// --- encoding ---

func mpAppendMapHeader(dst []byte, n int) []byte { return append(dst, 0x80|byte(n)) } // n < 16

func mpAppendArrayHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x90|byte(n))
	case n <= math.MaxUint16:
		return append(dst, mpArr16, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint32(append(dst, mpArr32), uint32(n))
	}
}

// mpAppendKey appends a one-letter map key.
func mpAppendKey(dst []byte, k byte) []byte { return append(dst, 0xa1, k) }

func mpAppendStr(dst []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, mpStr8, byte(n))
	case n <= math.MaxUint16:
		dst = append(dst, mpStr16, byte(n>>8), byte(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, mpStr32), uint32(n))
	}
	return append(dst, s...)
}

func mpAppendBin(dst, b []byte) []byte {
	switch n := len(b); {
	case n <= math.MaxUint8:
		dst = append(dst, mpBin8, byte(n))
	case n <= math.MaxUint16:
		dst = append(dst, mpBin16, byte(n>>8), byte(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, mpBin32), uint32(n))
	}
	return append(dst, b...)
}

func mpAppendUint(dst []byte, v uint64) []byte {
	switch {
	case v < 0x80:
		return append(dst, byte(v))
	case v <= math.MaxUint8:
		return append(dst, mpUint8, byte(v))
	case v <= math.MaxUint16:
		return append(dst, mpUint16, byte(v>>8), byte(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, mpUint32), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(dst, mpUint64), v)
	}
}

func mpAppendInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0:
		return mpAppendUint(dst, uint64(v))
	case v >= -32:
		return append(dst, byte(v))
	default:
		return binary.BigEndian.AppendUint64(append(dst, mpInt64), uint64(v))
	}
}

// appendTo appends r as a map {i, h, k}.
func (r *wireRight) appendTo(dst []byte) []byte {
	dst = mpAppendMapHeader(dst, 3)
	dst = mpAppendBin(mpAppendKey(dst, 'i'), r.ID[:])
	dst = mpAppendStr(mpAppendKey(dst, 'h'), r.Home)
	return mpAppendUint(mpAppendKey(dst, 'k'), uint64(r.Kind))
}

// appendTo appends w as a map, omitting empty optional fields.
func (w *wireMsg) appendTo(dst []byte) []byte {
	n := 4 // d, n, u, b
	for _, present := range [...]bool{w.Reply != nil, w.From != 0, w.Seq != 0, len(w.Rights) > 0, len(w.OOL) > 0} {
		if present {
			n++
		}
	}
	dst = mpAppendMapHeader(dst, n)
	dst = mpAppendBin(mpAppendKey(dst, 'd'), w.Dest[:])
	if w.Reply != nil {
		dst = w.Reply.appendTo(mpAppendKey(dst, 'r'))
	}
	dst = mpAppendUint(mpAppendKey(dst, 'n'), uint64(w.ID))
	dst = mpAppendUint(mpAppendKey(dst, 'u'), w.RU)
	if w.From != 0 {
		dst = mpAppendUint(mpAppendKey(dst, 'f'), w.From)
	}
	if w.Seq != 0 {
		dst = mpAppendUint(mpAppendKey(dst, 'q'), w.Seq)
	}
	dst = mpAppendBin(mpAppendKey(dst, 'b'), w.Body)
	if len(w.Rights) > 0 {
		dst = mpAppendArrayHeader(mpAppendKey(dst, 'x'), len(w.Rights))
		for i := range w.Rights {
			dst = w.Rights[i].appendTo(dst)
		}
	}
	if len(w.OOL) > 0 {
		dst = mpAppendArrayHeader(mpAppendKey(dst, 'o'), len(w.OOL))
		for _, b := range w.OOL {
			dst = mpAppendBin(dst, b)
		}
	}
	return dst
}

// appendTo appends c as a map of its non-zero fields.
func (c *wireCtl) appendTo(dst []byte) []byte {
	hasID := c.ID != portID{}
	hasRight := c.Right != wireRight{}
	n := 0
	for _, present := range [...]bool{hasID, c.N != 0, c.Req != 0, c.Name != "", hasRight, c.Found} {
		if present {
			n++
		}
	}
	dst = mpAppendMapHeader(dst, n)
	if hasID {
		dst = mpAppendBin(mpAppendKey(dst, 'i'), c.ID[:])
	}
	if c.N != 0 {
		dst = mpAppendInt(mpAppendKey(dst, 'n'), int64(c.N))
	}
	if c.Req != 0 {
		dst = mpAppendUint(mpAppendKey(dst, 'q'), c.Req)
	}
	if c.Name != "" {
		dst = mpAppendStr(mpAppendKey(dst, 's'), c.Name)
	}
	if hasRight {
		dst = c.Right.appendTo(mpAppendKey(dst, 'r'))
	}
	if c.Found {
		dst = append(mpAppendKey(dst, 'f'), mpTrue)
	}
	return dst
}

// --- decoding ---

// wireReader reads msgpack from a frame body, keeping the first error.
type wireReader struct {
	b   []byte
	off int
	err string
}

func (d *wireReader) fail(why string) {
	if d.err == "" {
		d.err = why
	}
}

// result is nil or the first error, wrapping ErrCorruptWire.
func (d *wireReader) result(what string) error {
	if d.err == "" && d.off != len(d.b) {
		d.err = "trailing bytes"
	}
	if d.err == "" {
		return nil
	}
	return fmt.Errorf("decode %s: %w: %s at byte %d", what, ErrCorruptWire, d.err, d.off)
}

func (d *wireReader) take(n int) []byte {
	if d.err != "" {
		return nil
	}
	if n < 0 || len(d.b)-d.off < n {
		d.fail("truncated")
		return nil
	}
	p := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return p
}

func (d *wireReader) byte() byte {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

// peek returns the next type byte without consuming it (0xc1, never
// valid, at the end).
func (d *wireReader) peek() byte {
	if d.err != "" || d.off >= len(d.b) {
		return 0xc1
	}
	return d.b[d.off]
}

// nil consumes a msgpack nil if one is next.
func (d *wireReader) nil() bool {
	if d.peek() == mpNil {
		d.off++
		return true
	}
	return false
}

// sized reads the big-endian length or value of 1, 2, 4 or 8 bytes.
func (d *wireReader) sized(n int) uint64 {
	p := d.take(n)
	switch {
	case p == nil:
		return 0
	case n == 1:
		return uint64(p[0])
	case n == 2:
		return uint64(binary.BigEndian.Uint16(p))
	case n == 4:
		return uint64(binary.BigEndian.Uint32(p))
	default:
		return binary.BigEndian.Uint64(p)
	}
}

// count reads a map or array header of the given kind (0x80 for maps, 0x90
// for arrays); each entry takes at least one byte, so a count larger than
// what is left is refused before anything is allocated.
func (d *wireReader) count(fix byte, ext16 byte) int {
	t := d.byte()
	var n uint64
	switch {
	case d.err != "":
		return 0
	case t&0xf0 == fix:
		n = uint64(t & 0x0f)
	case t == ext16:
		n = d.sized(2)
	case t == ext16+1:
		n = d.sized(4)
	default:
		d.fail("expected a map or an array")
		return 0
	}
	if n > uint64(len(d.b)-d.off) {
		d.fail("count larger than the frame")
		return 0
	}
	return int(n)
}

func (d *wireReader) mapLen() int   { return d.count(0x80, mpMap16) }
func (d *wireReader) arrayLen() int { return d.count(0x90, mpArr16) }

// raw reads a bin or str (or nil: empty) and returns its bytes, aliasing
// the frame.
func (d *wireReader) raw() []byte {
	t := d.byte()
	var n uint64
	switch {
	case d.err != "":
		return nil
	case t == mpNil:
		return nil
	case t&0xe0 == 0xa0:
		n = uint64(t & 0x1f)
	case t == mpBin8 || t == mpStr8:
		n = d.sized(1)
	case t == mpBin16 || t == mpStr16:
		n = d.sized(2)
	case t == mpBin32 || t == mpStr32:
		n = d.sized(4)
	default:
		d.fail("expected bytes")
		return nil
	}
	if n > math.MaxInt32 {
		d.fail("length out of range")
		return nil
	}
	return d.take(int(n))
}

// int reads any msgpack integer (or nil: 0) into [lo, hi].
func (d *wireReader) int(lo, hi int64) int64 {
	t := d.byte()
	var v int64
	switch {
	case d.err != "" || t == mpNil:
		return 0
	case t < 0x80:
		v = int64(t)
	case t >= 0xe0:
		v = int64(int8(t))
	case t >= mpUint8 && t <= mpUint64:
		u := d.sized(1 << (t - mpUint8))
		if u > math.MaxInt64 {
			d.fail("integer out of range")
			return 0
		}
		v = int64(u)
	case t >= mpInt8 && t <= mpInt64:
		n := 1 << (t - mpInt8)
		v = int64(d.sized(n)<<(64-8*n)) >> (64 - 8*n) // sign-extend
	default:
		d.fail("expected an integer")
		return 0
	}
	if v < lo || v > hi {
		d.fail("integer out of range")
		return 0
	}
	return v
}

// uint64 reads an unsigned msgpack integer of any width (or nil: 0).
func (d *wireReader) uint64() uint64 {
	if t := d.peek(); t == mpUint64 {
		d.off++
		return d.sized(8)
	}
	return uint64(d.int(0, math.MaxInt64))
}

func (d *wireReader) bool() bool {
	switch t := d.byte(); {
	case d.err != "":
	case t == mpTrue:
		return true
	case t == mpFalse || t == mpNil:
	default:
		d.fail("expected a bool")
	}
	return false
}

// key reads a map key: a one-letter string (any other string is returned
// as 0, an unknown key).
func (d *wireReader) key() byte {
	k := d.strOnly()
	if len(k) == 1 {
		return k[0]
	}
	return 0
}

func (d *wireReader) strOnly() []byte {
	if t := d.peek(); t&0xe0 != 0xa0 && (t < mpStr8 || t > mpStr32) {
		d.fail("expected a string key")
		return nil
	}
	return d.raw()
}

func (d *wireReader) portID() portID {
	var id portID
	if b := d.raw(); len(b) == len(id) {
		copy(id[:], b)
	} else if d.err == "" {
		d.fail("port id is not 16 bytes")
	}
	return id
}

// skip consumes one value of any type, nested at most maxWireDepth deep.
func (d *wireReader) skip(depth int) {
	if depth > maxWireDepth {
		d.fail("nested too deep")
		return
	}
	switch t := d.peek(); {
	case t&0xf0 == 0x80 || t == mpMap16 || t == mpMap32:
		for i, n := 0, d.mapLen(); i < 2*n && d.err == ""; i++ {
			d.skip(depth + 1)
		}
	case t&0xf0 == 0x90 || t == mpArr16 || t == mpArr32:
		for i, n := 0, d.arrayLen(); i < n && d.err == ""; i++ {
			d.skip(depth + 1)
		}
	case t&0xe0 == 0xa0 || (t >= mpBin8 && t <= mpBin32) || (t >= mpStr8 && t <= mpStr32):
		d.raw()
	case t == mpTrue || t == mpFalse:
		d.bool()
	case t == mpUint64:
		d.uint64()
	default:
		d.int(math.MinInt64, math.MaxInt64)
	}
}

// right reads a wireRight map.
func (d *wireReader) right() wireRight {
	var r wireRight
	for i, n := 0, d.mapLen(); i < n && d.err == ""; i++ {
		switch d.key() {
		case 'i':
			r.ID = d.portID()
		case 'h':
			r.Home = string(d.raw())
		case 'k':
			r.Kind = RightType(d.int(0, math.MaxUint8))
		default:
			d.skip(0)
		}
	}
	return r
}

// rights reads an array of wireRight (or nil).
func (d *wireReader) rights() []wireRight {
	if d.nil() {
		return nil
	}
	n := d.arrayLen()
	if n == 0 {
		return nil
	}
	rs := make([]wireRight, n)
	for i := range rs {
		rs[i] = d.right()
	}
	return rs
}

// blobs reads an array of byte strings (or nil), aliasing the frame.
func (d *wireReader) blobs() [][]byte {
	if d.nil() {
		return nil
	}
	n := d.arrayLen()
	if n == 0 {
		return nil
	}
	bs := make([][]byte, n)
	for i := range bs {
		bs[i] = d.raw()
	}
	return bs
}

// decodeWireMsg decodes a kindMsg body. Body and OOL alias b.
func decodeWireMsg(b []byte, w *wireMsg) error {
	d := wireReader{b: b}
	for i, n := 0, d.mapLen(); i < n && d.err == ""; i++ {
		switch d.key() {
		case 'd':
			w.Dest = d.portID()
		case 'r':
			if !d.nil() {
				r := d.right()
				w.Reply = &r
			}
		case 'n':
			w.ID = uint32(d.int(0, math.MaxUint32))
		case 'u':
			w.RU = d.uint64()
		case 'f':
			w.From = d.uint64()
		case 'q':
			w.Seq = d.uint64()
		case 'b':
			w.Body = d.raw()
		case 'x':
			w.Rights = d.rights()
		case 'o':
			w.OOL = d.blobs()
		default:
			d.skip(0)
		}
	}
	return d.result("message")
}

// decodeWireCtl decodes the body of a control frame.
func decodeWireCtl(b []byte, c *wireCtl) error {
	d := wireReader{b: b}
	for i, n := 0, d.mapLen(); i < n && d.err == ""; i++ {
		switch d.key() {
		case 'i':
			c.ID = d.portID()
		case 'n':
			c.N = int(d.int(math.MinInt32, math.MaxInt32))
		case 'q':
			c.Req = d.uint64()
		case 's':
			c.Name = string(d.raw())
		case 'r':
			if !d.nil() {
				c.Right = d.right()
			}
		case 'f':
			c.Found = d.bool()
		default:
			d.skip(0)
		}
	}
	return d.result("control")
}
