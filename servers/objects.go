package servers

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"

	"github.com/ftm-in-go/ftm/stm"
	"github.com/hashicorp/go-msgpack/v2/codec"
)

// Server state by object: a state S may hold Map and Log fields whose
// entries are STM objects of their own, written only when they change.
//
// Layout in the bank: a collection's header (in S's own object,
// "data:<server>") lists the extents of ids it reserved (Tx.Reserve, each
// as large as all before it, so a collection of n entries has O(log n)
// extents) and a nonce naming the write that produced it. Each entry is
// one object in one slot of an extent: its key's and its value's
// encodings (Codec). A slot holds no object when it is free.
//
// The window: from the last write of the collection known committed (its
// nonce is base) to the next, the collection remembers which keys changed
// (touched), with the slot each had when the window opened. A write
// (precommit into a checkpoint's group, or a lone commit with the unit's
// record) puts every touched entry and deletes the removed ones, in the
// transaction that also writes S with the new header; the commit of that
// write closes the window. An abort reverts the touched keys to their
// committed entries, read back from the bank: O(change). A restart after
// a crash, or a header written by a write this memory did not make, loads
// every entry of every extent: O(size), once.
//
// Invariants: an entry outside touched is in the bank, committed, at its
// slot; a slot is given to one key at a time, and a slot freed in the
// window (a deleted key's) is reused only after the window committed; the
// entries a window wrote are one transaction with the header naming
// them.

// stateObject is a collection held by a server's state whose entries are
// stored as objects of their own. Its methods run with the server's state
// not in use by a call (the driver's lock held).
type stateObject interface {
	// writeObjects writes the touched entries into tx, before the header
	// is encoded with S in the same transaction.
	writeObjects(tx *stm.Tx) error
	// committedWrite says the last write committed: the window closes.
	committedWrite()
	// restore makes the collection, whose header was just decoded, hold
	// its committed entries: by reverting old's changes when old's
	// memory is based on this header and full is false, else by loading
	// every entry from tx.
	restore(tx *stm.Tx, old stateObject, full bool) error
	// reflectiveTypes are the key and value types encoded by msgpack
	// (checked like a state's fields), with the path suffix naming them.
	reflectiveTypes() map[string]reflect.Type
}

var stateObjectType = reflect.TypeFor[stateObject]()

// isStateObject reports a type whose pointer is a stateObject.
func isStateObject(t reflect.Type) bool { return reflect.PointerTo(t).Implements(stateObjectType) }

// extent is a range of ids a collection reserved for its entries.
type extent struct {
	start stm.ID
	n     uint64
}

func (e extent) holds(id stm.ID) bool { return id >= e.start && uint64(id-e.start) < e.n }

// minExtent is the size of a collection's first extent.
const minExtent = 64

// touch is a key changed in the window: the slot its committed entry is
// in (0: none), and the slot it holds in this window (0: none yet).
type touch struct {
	committed stm.ID
	id        stm.ID
}

// entry is a key's value in memory and its slot (0: not given yet).
type entry[V any] struct {
	v  V
	id stm.ID
}

// objects is the memory of one collection: its entries, the window's
// changes and its slots. Encoded by header; entries by kc and vc.
type objects[K comparable, V any] struct {
	entries map[K]*entry[V]
	touched map[K]touch

	extents []extent // committed: named by the header at base
	fresh   []extent // reserved in the window
	used    uint64   // slots given out of the last fresh extent
	free    []stm.ID // free slots of the committed extents
	nonce   uint64   // of the header as encoded now
	base    uint64   // nonce of the committed header this memory holds
	written bool     // a write was made in the window
	loaded  bool     // entries holds every committed entry (memory, not a decoded header)

	kc Codec[K]
	vc Codec[V]
}

func newObjects[K comparable, V any]() *objects[K, V] {
	kc, _ := codecFor[K]()
	vc, _ := codecFor[V]()
	return &objects[K, V]{entries: map[K]*entry[V]{}, touched: map[K]touch{}, loaded: true, kc: kc, vc: vc}
}

func (o *objects[K, V]) get(k K) (V, bool) {
	if e := o.entries[k]; e != nil {
		return e.v, true
	}
	var zero V
	return zero, false
}

// touchKey records k as changed in the window (once: its committed slot is
// the one it had then).
func (o *objects[K, V]) touchKey(k K, e *entry[V]) {
	if _, ok := o.touched[k]; ok {
		return
	}
	var id stm.ID
	if e != nil {
		id = e.id
	}
	o.touched[k] = touch{committed: id, id: id}
}

func (o *objects[K, V]) set(k K, v V) {
	e := o.entries[k]
	o.touchKey(k, e)
	if e == nil {
		e = &entry[V]{id: o.touched[k].id} // a key deleted in the window keeps its slot
		o.entries[k] = e
	}
	e.v = v
}

func (o *objects[K, V]) remove(k K) {
	e := o.entries[k]
	if e == nil {
		return
	}
	o.touchKey(k, e)
	delete(o.entries, k)
}

// writeObjects puts the touched entries and deletes the removed ones.
func (o *objects[K, V]) writeObjects(tx *stm.Tx) error {
	for k, t := range o.touched {
		e := o.entries[k]
		if e == nil {
			if t.committed != 0 {
				if err := tx.Delete(t.committed); err != nil {
					return err
				}
			}
			continue
		}
		if e.id == 0 {
			id, err := o.slot(tx, t)
			if err != nil {
				return err
			}
			e.id, t.id = id, id
			o.touched[k] = t
		}
		if err := o.putEntry(tx, k, e); err != nil {
			return err
		}
	}
	o.nonce, o.written = newNonce(), true
	return nil
}

// putEntry writes one entry's object.
func (o *objects[K, V]) putEntry(tx *stm.Tx, k K, e *entry[V]) error {
	b, err := o.kc.Append(nil, k)
	if err == nil {
		b, err = o.vc.Append(b, e.v)
	}
	if err != nil {
		return fmt.Errorf("servers: encode entry: %w", err)
	}
	return tx.Put(e.id, b)
}

// slot gives a touched key its slot: the one it had in the window, a free
// committed one, or the next of the fresh extents (reserving one in tx).
func (o *objects[K, V]) slot(tx *stm.Tx, t touch) (stm.ID, error) {
	if t.id != 0 {
		return t.id, nil
	}
	if n := len(o.free); n > 0 {
		id := o.free[n-1]
		o.free = o.free[:n-1]
		return id, nil
	}
	if len(o.fresh) == 0 || o.used == o.fresh[len(o.fresh)-1].n {
		n := max(uint64(minExtent), o.slots())
		start, err := tx.Reserve(int(n))
		if err != nil {
			return 0, err
		}
		o.fresh, o.used = append(o.fresh, extent{start: start, n: n}), 0
	}
	last := o.fresh[len(o.fresh)-1]
	o.used++
	return last.start + stm.ID(o.used-1), nil
}

// slots counts the slots of every extent, committed and fresh.
func (o *objects[K, V]) slots() uint64 {
	var n uint64
	for _, e := range o.extents {
		n += e.n
	}
	for _, e := range o.fresh {
		n += e.n
	}
	return n
}

func newNonce() uint64 {
	for {
		if n := rand.Uint64(); n != 0 {
			return n
		}
	}
}

// committedWrite closes the window after its last write committed: the
// fresh extents become committed, removed keys' slots free.
func (o *objects[K, V]) committedWrite() {
	if !o.written {
		return
	}
	for k, t := range o.touched {
		if o.entries[k] == nil && t.id != 0 {
			o.free = append(o.free, t.id)
		}
	}
	for i, e := range o.fresh {
		if i == len(o.fresh)-1 {
			for u := o.used; u < e.n; u++ {
				o.free = append(o.free, e.start+stm.ID(u))
			}
		}
		o.extents = append(o.extents, e)
	}
	o.fresh, o.used = nil, 0
	o.closeWindow()
	o.base, o.written = o.nonce, false
}

// restore: see stateObject. o holds the decoded header only.
func (o *objects[K, V]) restore(tx *stm.Tx, old *objects[K, V], full bool) (*objects[K, V], error) {
	if !full && old != nil && old.loaded && old.base == o.nonce {
		if err := old.revert(tx); err != nil {
			return nil, err
		}
		return old, nil
	}
	if err := o.load(tx); err != nil {
		return nil, err
	}
	return o, nil
}

// revert puts the touched keys back to their committed entries, read from
// tx, and forgets the window's slots and extents.
func (o *objects[K, V]) revert(tx *stm.Tx) error {
	for k, t := range o.touched {
		if t.committed == 0 {
			delete(o.entries, k)
			if t.id != 0 && o.inCommitted(t.id) {
				o.free = append(o.free, t.id) // given from the free slots in the window
			}
			continue
		}
		v, err := o.read(tx, t.committed, k)
		if err != nil {
			return err
		}
		o.entries[k] = &entry[V]{v: v, id: t.committed}
	}
	o.closeWindow()
	o.fresh, o.used, o.written, o.nonce = nil, 0, false, o.base
	return nil
}

// closeWindow forgets the touched keys. A map keeps the room of its
// largest size, and ranging over it costs that room: after a large
// window (a preload) the set is made anew, so the next windows cost what
// they touch.
func (o *objects[K, V]) closeWindow() {
	if len(o.touched) > 256 {
		o.touched = map[K]touch{}
		return
	}
	clear(o.touched)
}

func (o *objects[K, V]) inCommitted(id stm.ID) bool {
	for _, e := range o.extents {
		if e.holds(id) {
			return true
		}
	}
	return false
}

// read decodes the committed entry at id, which must hold key k.
func (o *objects[K, V]) read(tx *stm.Tx, id stm.ID, k K) (V, error) {
	var zero V
	b, err := tx.Bytes(id)
	if err != nil {
		return zero, fmt.Errorf("servers: entry %d: %w", id, err)
	}
	got, v, err := o.decodeEntry(b)
	if err != nil {
		return zero, err
	}
	if got != k {
		return zero, fmt.Errorf("%w: entry %d holds another key", ErrCorruptState, id)
	}
	return v, nil
}

func (o *objects[K, V]) decodeEntry(b []byte) (K, V, error) {
	var v V
	k, rest, err := o.kc.Read(b)
	if err == nil {
		v, _, err = o.vc.Read(rest)
	}
	return k, v, err
}

// load reads every entry of the extents named by the decoded header.
func (o *objects[K, V]) load(tx *stm.Tx) error {
	o.entries, o.touched, o.free = map[K]*entry[V]{}, map[K]touch{}, nil
	for _, e := range o.extents {
		for i := range e.n {
			id := e.start + stm.ID(i)
			b, err := tx.Bytes(id)
			if errors.Is(err, stm.ErrNotFound) {
				o.free = append(o.free, id)
				continue
			}
			if err != nil {
				return fmt.Errorf("servers: entry %d: %w", id, err)
			}
			k, v, err := o.decodeEntry(b)
			if err != nil {
				return fmt.Errorf("servers: entry %d: %w", id, err)
			}
			o.entries[k] = &entry[V]{v: v, id: id}
		}
	}
	o.base, o.loaded = o.nonce, true
	return nil
}

// header is what S's object holds of a collection: the nonce, then each
// extent's start and size.
func (o *objects[K, V]) header() []uint64 {
	h := make([]uint64, 0, 1+2*(len(o.extents)+len(o.fresh)))
	h = append(h, o.nonce)
	for _, e := range append(o.extents[:len(o.extents):len(o.extents)], o.fresh...) {
		h = append(h, uint64(e.start), e.n)
	}
	return h
}

// fromHeader is a collection holding a decoded header only (loaded false).
func fromHeader[K comparable, V any](h []uint64) (*objects[K, V], error) {
	if len(h) == 0 || len(h)%2 != 1 {
		return nil, fmt.Errorf("%w: collection header of %d words", ErrCorruptState, len(h))
	}
	o := newObjects[K, V]()
	o.loaded, o.nonce, o.base = false, h[0], h[0]
	for i := 1; i < len(h); i += 2 {
		o.extents = append(o.extents, extent{start: stm.ID(h[i]), n: h[i+1]})
	}
	return o, nil
}

// appendWords and readWords are the hand-written encoding of a header.
func appendWords(b []byte, h []uint64) []byte {
	b, _ = Uint64Codec.Append(b, uint64(len(h)))
	for _, x := range h {
		b, _ = Uint64Codec.Append(b, x)
	}
	return b
}

func readWords(b []byte) ([]uint64, []byte, error) {
	n, b, err := readUvarint(b, "header length")
	if err != nil {
		return nil, nil, err
	}
	if n > uint64(len(b)) {
		return nil, nil, corrupt("header length")
	}
	h := make([]uint64, n)
	for i := range h {
		if h[i], b, err = readUvarint(b, "header"); err != nil {
			return nil, nil, err
		}
	}
	return h, b, nil
}

// elemTypes names the reflectively encoded key and value types.
func elemTypes[K comparable, V any](kpath, vpath string) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	if _, r := codecFor[K](); r {
		out[kpath] = reflect.TypeFor[K]()
	}
	if _, r := codecFor[V](); r {
		out[vpath] = reflect.TypeFor[V]()
	}
	return out
}

// encodeWords and decodeWords are a header's msgpack form (codec.Selfer).
func encodeWords(e *codec.Encoder, h []uint64) { e.MustEncode(h) }

func decodeWords(d *codec.Decoder) []uint64 {
	var h []uint64
	d.MustDecode(&h)
	return h
}
