package servers

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/ftm-in-go/ftm/stm"
)

// ErrCorruptState is matched by the errors of decoding a server's stable
// state (its header or one of its objects' entries) that is not what its
// codec wrote.
var ErrCorruptState = errors.New("servers: corrupt stable state")

// Codec encodes values of T without reflection: the hot path of a
// checkpoint writes each changed entry of a Map or Log with it. Append
// appends v's encoding to b; Read decodes one value from the front of b
// and returns what follows it (an encoding delimits itself).
//
// The Map and Log of this package pick the codec of their key and value
// types themselves (codecFor): the hand-written ones below for strings,
// byte slices, booleans, integers and floats; a type whose pointer
// implements encoding.BinaryAppender and encoding.BinaryUnmarshaler
// encodes itself; any other type falls back to msgpack by reflection
// (still only for the entries that changed).
type Codec[T any] interface {
	Append(b []byte, v T) ([]byte, error)
	Read(b []byte) (v T, rest []byte, err error)
}

// StateCodec is implemented (on its pointer) by a server state type that
// encodes itself without reflection. The framework then stores the state
// and its duplicate table in its own format instead of msgpack; NewServer
// checks that the codec keeps the initial value whole, as it checks a
// msgpack-encoded state. A Map or Log field is encoded by its
// AppendHeader and ReadHeader (its entries are objects of their own).
type StateCodec interface {
	AppendState(b []byte) ([]byte, error)
	DecodeState(b []byte) error
}

// The hand-written codecs of the common types.
var (
	StringCodec  Codec[string]  = stringCodec{}
	BytesCodec   Codec[[]byte]  = bytesCodec{}
	BoolCodec    Codec[bool]    = boolCodec{}
	Int64Codec   Codec[int64]   = int64Codec{}
	IntCodec     Codec[int]     = intCodec{}
	Int32Codec   Codec[int32]   = int32Codec{}
	Uint64Codec  Codec[uint64]  = uint64Codec{}
	Uint32Codec  Codec[uint32]  = uint32Codec{}
	Float64Codec Codec[float64] = float64Codec{}
)

func corrupt(what string) error { return fmt.Errorf("%w: short or bad %s", ErrCorruptState, what) }

// readUvarint decodes a uvarint from the front of b.
func readUvarint(b []byte, what string) (uint64, []byte, error) {
	x, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, corrupt(what)
	}
	return x, b[n:], nil
}

// readVarint decodes a varint from the front of b.
func readVarint(b []byte, what string) (int64, []byte, error) {
	x, n := binary.Varint(b)
	if n <= 0 {
		return 0, nil, corrupt(what)
	}
	return x, b[n:], nil
}

// readChunk decodes a length-prefixed byte string from the front of b; the
// result aliases b.
func readChunk(b []byte, what string) ([]byte, []byte, error) {
	n, rest, err := readUvarint(b, what)
	if err != nil {
		return nil, nil, err
	}
	if n > uint64(len(rest)) {
		return nil, nil, corrupt(what)
	}
	return rest[:n], rest[n:], nil
}

func appendChunk(b, p []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(p))), p...)
}

type stringCodec struct{}

func (stringCodec) Append(b []byte, v string) ([]byte, error) {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...), nil
}

func (stringCodec) Read(b []byte) (string, []byte, error) {
	p, rest, err := readChunk(b, "string")
	return string(p), rest, err
}

// bytesCodec keeps nil apart from empty: its length prefix is len+1, 0
// for nil.
type bytesCodec struct{}

func (bytesCodec) Append(b []byte, v []byte) ([]byte, error) {
	if v == nil {
		return append(b, 0), nil
	}
	return append(binary.AppendUvarint(b, uint64(len(v))+1), v...), nil
}

func (bytesCodec) Read(b []byte) ([]byte, []byte, error) {
	n, rest, err := readUvarint(b, "bytes")
	if err != nil {
		return nil, nil, err
	}
	if n == 0 {
		return nil, rest, nil
	}
	if n-1 > uint64(len(rest)) {
		return nil, nil, corrupt("bytes")
	}
	return append(make([]byte, 0, n-1), rest[:n-1]...), rest[n-1:], nil
}

type boolCodec struct{}

func (boolCodec) Append(b []byte, v bool) ([]byte, error) {
	if v {
		return append(b, 1), nil
	}
	return append(b, 0), nil
}

func (boolCodec) Read(b []byte) (bool, []byte, error) {
	if len(b) == 0 || b[0] > 1 {
		return false, nil, corrupt("bool")
	}
	return b[0] == 1, b[1:], nil
}

type int64Codec struct{}

func (int64Codec) Append(b []byte, v int64) ([]byte, error) { return binary.AppendVarint(b, v), nil }

func (int64Codec) Read(b []byte) (int64, []byte, error) { return readVarint(b, "int64") }

type intCodec struct{}

func (intCodec) Append(b []byte, v int) ([]byte, error) { return binary.AppendVarint(b, int64(v)), nil }

func (intCodec) Read(b []byte) (int, []byte, error) {
	x, rest, err := readVarint(b, "int")
	if err == nil && int64(int(x)) != x {
		err = corrupt("int")
	}
	return int(x), rest, err
}

type int32Codec struct{}

func (int32Codec) Append(b []byte, v int32) ([]byte, error) {
	return binary.AppendVarint(b, int64(v)), nil
}

func (int32Codec) Read(b []byte) (int32, []byte, error) {
	x, rest, err := readVarint(b, "int32")
	if err == nil && (x < math.MinInt32 || x > math.MaxInt32) {
		err = corrupt("int32")
	}
	return int32(x), rest, err
}

type uint64Codec struct{}

func (uint64Codec) Append(b []byte, v uint64) ([]byte, error) { return binary.AppendUvarint(b, v), nil }

func (uint64Codec) Read(b []byte) (uint64, []byte, error) { return readUvarint(b, "uint64") }

type uint32Codec struct{}

func (uint32Codec) Append(b []byte, v uint32) ([]byte, error) {
	return binary.AppendUvarint(b, uint64(v)), nil
}

func (uint32Codec) Read(b []byte) (uint32, []byte, error) {
	x, rest, err := readUvarint(b, "uint32")
	if err == nil && x > math.MaxUint32 {
		err = corrupt("uint32")
	}
	return uint32(x), rest, err
}

type float64Codec struct{}

func (float64Codec) Append(b []byte, v float64) ([]byte, error) {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v)), nil
}

func (float64Codec) Read(b []byte) (float64, []byte, error) {
	if len(b) < 8 {
		return 0, nil, corrupt("float64")
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b)), b[8:], nil
}

// binaryCodec is the codec of a type that encodes itself (its pointer
// implements encoding.BinaryAppender and encoding.BinaryUnmarshaler):
// its encoding, length-prefixed.
type binaryCodec[T any] struct{}

func (binaryCodec[T]) Append(b []byte, v T) ([]byte, error) {
	enc, err := any(&v).(encoding.BinaryAppender).AppendBinary(nil)
	if err != nil {
		return nil, err
	}
	return appendChunk(b, enc), nil
}

func (binaryCodec[T]) Read(b []byte) (T, []byte, error) {
	var v T
	p, rest, err := readChunk(b, fmt.Sprintf("%T", v))
	if err != nil {
		return v, nil, err
	}
	if err := any(&v).(encoding.BinaryUnmarshaler).UnmarshalBinary(p); err != nil {
		return v, nil, fmt.Errorf("%w: %w", ErrCorruptState, err)
	}
	return v, rest, nil
}

// msgpackCodec is the fallback: msgpack by reflection, length-prefixed.
type msgpackCodec[T any] struct{}

func (msgpackCodec[T]) Append(b []byte, v T) ([]byte, error) {
	enc, err := stm.Encode(v)
	if err != nil {
		return nil, err
	}
	return appendChunk(b, enc), nil
}

func (msgpackCodec[T]) Read(b []byte) (T, []byte, error) {
	var zero T
	p, rest, err := readChunk(b, fmt.Sprintf("%T", zero))
	if err != nil {
		return zero, nil, err
	}
	v, err := decodeAny[T](p)
	if err != nil {
		return zero, nil, fmt.Errorf("%w: %w", ErrCorruptState, err)
	}
	return v, rest, nil
}

// codecFor returns the codec of T: a hand-written one for the common
// types, the type's own binary encoding, or msgpack. reflective says the
// last: the type is then checked by statecheck like a state's field.
func codecFor[T any]() (c Codec[T], reflective bool) {
	var zero T
	var out any
	switch any(zero).(type) {
	case string:
		out = StringCodec
	case []byte:
		out = BytesCodec
	case bool:
		out = BoolCodec
	case int64:
		out = Int64Codec
	case int:
		out = IntCodec
	case int32:
		out = Int32Codec
	case uint64:
		out = Uint64Codec
	case uint32:
		out = Uint32Codec
	case float64:
		out = Float64Codec
	}
	if c, ok := out.(Codec[T]); ok {
		return c, false
	}
	_, appends := any(&zero).(encoding.BinaryAppender)
	_, unmarshals := any(&zero).(encoding.BinaryUnmarshaler)
	if appends && unmarshals {
		return binaryCodec[T]{}, false
	}
	return msgpackCodec[T]{}, true
}
