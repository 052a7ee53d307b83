package servers

import (
	"fmt"
	"iter"
	"reflect"

	"github.com/ftm-in-go/ftm/stm"
	"github.com/hashicorp/go-msgpack/v2/codec"
)

// Map is a map held by a server's state S whose entries are STM objects
// of their own (objects.go): a checkpoint writes the entries that changed
// since the last one and S's small header, not the whole map, so a
// durable update costs the same at 10 keys and at 100,000. An abort of
// the server's RU puts the changed entries back to their committed
// values; a restart loads them all from the bank.
//
// The zero value is an empty map, ready to use. A Map is a field of S
// (or of a struct field of S, not behind a pointer, slice or map), used
// through a pointer to S as handlers get it; copies of S share their
// Maps. Values are kept as given: a value holding a slice or a pointer
// must not be changed in place after Set (Set it again instead), or the
// change is not seen as one. Keys and values are encoded by codecFor's
// codec of their type (hand-written for strings, byte slices and
// numbers; msgpack for other types, which NewServer checks as it checks
// S). Not safe for concurrent use: a server serves one call at a time.
type Map[K comparable, V any] struct {
	o *objects[K, V]
}

func (m *Map[K, V]) objs() *objects[K, V] {
	if m.o == nil {
		m.o = newObjects[K, V]()
	}
	return m.o
}

// Get returns the value of key k and whether it is set.
func (m *Map[K, V]) Get(k K) (V, bool) {
	if m.o == nil {
		var zero V
		return zero, false
	}
	return m.o.get(k)
}

// Set sets key k to v.
func (m *Map[K, V]) Set(k K, v V) { m.objs().set(k, v) }

// Delete removes key k (nothing if it is not set).
func (m *Map[K, V]) Delete(k K) {
	if m.o != nil {
		m.o.remove(k)
	}
}

// Len returns the number of keys set.
func (m *Map[K, V]) Len() int {
	if m.o == nil {
		return 0
	}
	return len(m.o.entries)
}

// All iterates over the keys and values, in no particular order. The map
// must not be changed during the iteration.
func (m *Map[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		if m.o == nil {
			return
		}
		for k, e := range m.o.entries {
			if !yield(k, e.v) {
				return
			}
		}
	}
}

// AppendHeader appends the map's header (not its entries) to b: what a
// StateCodec of S writes for a Map field.
func (m *Map[K, V]) AppendHeader(b []byte) []byte { return appendWords(b, m.objs().header()) }

// ReadHeader decodes a header written by AppendHeader from the front of b
// and returns what follows: what a StateCodec of S reads for a Map field.
// The entries are read from the bank by the framework after DecodeState.
func (m *Map[K, V]) ReadHeader(b []byte) ([]byte, error) {
	h, rest, err := readWords(b)
	if err != nil {
		return nil, err
	}
	if m.o, err = fromHeader[K, V](h); err != nil {
		return nil, err
	}
	return rest, nil
}

// CodecEncodeSelf encodes the map's header in a msgpack-encoded S.
func (m Map[K, V]) CodecEncodeSelf(e *codec.Encoder) { encodeWords(e, m.objs().header()) }

// CodecDecodeSelf decodes the map's header in a msgpack-encoded S.
func (m *Map[K, V]) CodecDecodeSelf(d *codec.Decoder) {
	o, err := fromHeader[K, V](decodeWords(d))
	if err != nil {
		panic(err) // the codec reports a decoder's panic as its error
	}
	m.o = o
}

func (m *Map[K, V]) writeObjects(tx *stm.Tx) error { return m.objs().writeObjects(tx) }

func (m *Map[K, V]) committedWrite() {
	if m.o != nil {
		m.o.committedWrite()
	}
}

func (m *Map[K, V]) restore(tx *stm.Tx, old stateObject, full bool) error {
	var prev *objects[K, V]
	if om, ok := old.(*Map[K, V]); ok && om != m {
		prev = om.o
	}
	o, err := m.objs().restore(tx, prev, full)
	if err != nil {
		return err
	}
	m.o = o
	return nil
}

func (m *Map[K, V]) reflectiveTypes() map[string]reflect.Type {
	return elemTypes[K, V]("[key]", "[]")
}

// Log is an append-only sequence held by a server's state S, each entry
// an STM object of its own, as in a Map (indexes are its keys): a
// checkpoint writes the entries appended or trimmed since the last one.
// The zero value is an empty log. Indexes start at 0 and are never
// reused: TrimFront drops the oldest entries, and the next index goes on.
// The same rules as a Map's hold for where it lives and how its values
// are kept.
type Log[T any] struct {
	o           *objects[uint64, T]
	first, next uint64 // the entries held are [first, next)
}

func (l *Log[T]) objs() *objects[uint64, T] {
	if l.o == nil {
		l.o = newObjects[uint64, T]()
	}
	return l.o
}

// Append adds v at the end and returns its index.
func (l *Log[T]) Append(v T) uint64 {
	i := l.next
	l.objs().set(i, v)
	l.next++
	return i
}

// At returns the entry at index i, and whether the log holds it.
func (l *Log[T]) At(i uint64) (T, bool) {
	if l.o == nil || i < l.first || i >= l.next {
		var zero T
		return zero, false
	}
	return l.o.get(i)
}

// Len returns the number of entries held.
func (l *Log[T]) Len() int { return int(l.next - l.first) }

// Bounds returns the index of the oldest entry held and the index the
// next Append gets.
func (l *Log[T]) Bounds() (first, next uint64) { return l.first, l.next }

// TrimFront drops the n oldest entries (all of them if n is larger).
func (l *Log[T]) TrimFront(n int) {
	for ; n > 0 && l.first < l.next; n-- {
		l.objs().remove(l.first)
		l.first++
	}
}

// All iterates over the entries held, oldest first.
func (l *Log[T]) All() iter.Seq2[uint64, T] {
	return func(yield func(uint64, T) bool) {
		for i := l.first; i < l.next; i++ {
			v, _ := l.At(i)
			if !yield(i, v) {
				return
			}
		}
	}
}

// words is the log's header: first and next, then its entries' header.
func (l *Log[T]) words() []uint64 { return append([]uint64{l.first, l.next}, l.objs().header()...) }

func (l *Log[T]) fromWords(h []uint64) error {
	if len(h) < 2 || h[0] > h[1] {
		return fmt.Errorf("%w: log header of %d words", ErrCorruptState, len(h))
	}
	o, err := fromHeader[uint64, T](h[2:])
	if err != nil {
		return err
	}
	l.first, l.next, l.o = h[0], h[1], o
	return nil
}

// AppendHeader appends the log's header (not its entries) to b: what a
// StateCodec of S writes for a Log field.
func (l *Log[T]) AppendHeader(b []byte) []byte { return appendWords(b, l.words()) }

// ReadHeader decodes a header written by AppendHeader from the front of b
// and returns what follows.
func (l *Log[T]) ReadHeader(b []byte) ([]byte, error) {
	h, rest, err := readWords(b)
	if err != nil {
		return nil, err
	}
	return rest, l.fromWords(h)
}

// CodecEncodeSelf encodes the log's header in a msgpack-encoded S.
func (l Log[T]) CodecEncodeSelf(e *codec.Encoder) { encodeWords(e, l.words()) }

// CodecDecodeSelf decodes the log's header in a msgpack-encoded S.
func (l *Log[T]) CodecDecodeSelf(d *codec.Decoder) {
	if err := l.fromWords(decodeWords(d)); err != nil {
		panic(err) // the codec reports a decoder's panic as its error
	}
}

func (l *Log[T]) writeObjects(tx *stm.Tx) error { return l.objs().writeObjects(tx) }

func (l *Log[T]) committedWrite() {
	if l.o != nil {
		l.o.committedWrite()
	}
}

func (l *Log[T]) restore(tx *stm.Tx, old stateObject, full bool) error {
	var prev *objects[uint64, T]
	if ol, ok := old.(*Log[T]); ok && ol != l {
		prev = ol.o
	}
	o, err := l.objs().restore(tx, prev, full)
	if err != nil {
		return err
	}
	l.o = o
	return nil
}

func (l *Log[T]) reflectiveTypes() map[string]reflect.Type {
	return elemTypes[uint64, T]("[index]", "[]")
}
