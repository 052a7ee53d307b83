package servers

import (
	"fmt"
	"reflect"
	"slices"

	"github.com/ftm-in-go/ftm/stm"
)

// This file is how a server's stable value (S and its duplicate table)
// becomes the bytes of its object "data:<server>", and where S's
// collections are.

// stableMagic starts the framework's own encoding of a stable value, used
// when S implements StateCodec: a byte msgpack never writes, so an object
// in either form decodes.
const stableMagic = 0xc1

// encodeStable encodes st: by S's StateCodec when it has one (no
// reflection on the path of a checkpoint), else by msgpack.
func encodeStable[S any](st *stable[S]) ([]byte, error) {
	c, ok := any(&st.State).(StateCodec)
	if !ok {
		return stm.Encode(st)
	}
	b, err := appendDups([]byte{stableMagic}, st.Dups)
	if err != nil {
		return nil, err
	}
	return c.AppendState(b)
}

// decodeStable decodes what encodeStable wrote (either form).
func decodeStable[S any](b []byte) (stable[S], error) {
	if len(b) == 0 || b[0] != stableMagic {
		return decodeAny[stable[S]](b)
	}
	var st stable[S]
	c, ok := any(&st.State).(StateCodec)
	if !ok {
		return st, fmt.Errorf("%w: %T has no StateCodec for its stored form", ErrCorruptState, st.State)
	}
	dups, rest, err := readDups(b[1:])
	if err != nil {
		return st, err
	}
	st.Dups = dups
	if err := c.DecodeState(rest); err != nil {
		return st, fmt.Errorf("servers: decode %T: %w", st.State, err)
	}
	return st, nil
}

// appendDups encodes a duplicate table: clients, then each one's saved
// replies by request sequence number.
func appendDups(b []byte, dups map[string]map[uint64]savedReply) ([]byte, error) {
	b, _ = Uint64Codec.Append(b, uint64(len(dups)))
	for client, tbl := range dups {
		b, _ = StringCodec.Append(b, client)
		b, _ = Uint64Codec.Append(b, uint64(len(tbl)))
		for seq, r := range tbl {
			b, _ = Uint64Codec.Append(b, seq)
			b = append(b, r.Status)
			b, _ = StringCodec.Append(b, r.Err)
			b, _ = StringCodec.Append(b, r.Code)
			b, _ = BytesCodec.Append(b, r.Body)
		}
	}
	return b, nil
}

// readDups decodes a duplicate table from the front of b.
func readDups(b []byte) (map[string]map[uint64]savedReply, []byte, error) {
	n, b, err := readUvarint(b, "duplicate table")
	if err != nil || n > uint64(len(b)) {
		return nil, nil, corrupt("duplicate table")
	}
	dups := make(map[string]map[uint64]savedReply, n)
	for range n {
		var client string
		var tbl map[uint64]savedReply
		if client, b, err = StringCodec.Read(b); err != nil {
			return nil, nil, err
		}
		if tbl, b, err = readReplies(b); err != nil {
			return nil, nil, err
		}
		dups[client] = tbl
	}
	return dups, b, nil
}

// readReplies decodes one client's saved replies.
func readReplies(b []byte) (map[uint64]savedReply, []byte, error) {
	n, b, err := readUvarint(b, "saved replies")
	if err != nil || n > uint64(len(b)) {
		return nil, nil, corrupt("saved replies")
	}
	tbl := make(map[uint64]savedReply, n)
	for range n {
		var seq uint64
		var r savedReply
		if seq, b, err = readUvarint(b, "sequence number"); err != nil {
			return nil, nil, err
		}
		if len(b) == 0 {
			return nil, nil, corrupt("reply status")
		}
		r.Status, b = b[0], b[1:]
		if r.Err, b, err = StringCodec.Read(b); err == nil {
			r.Code, b, err = StringCodec.Read(b)
		}
		if err == nil {
			r.Body, b, err = BytesCodec.Read(b)
		}
		if err != nil {
			return nil, nil, err
		}
		tbl[seq] = r
	}
	return tbl, b, nil
}

// stateLayout is where a state type's collections are: the index path of
// each Map or Log field (through struct fields, never behind a pointer,
// a slice or a map; statecheck refuses the others). Found once by
// reflection; used at each checkpoint to reach the fields.
type stateLayout struct{ paths [][]int }

// layoutOf finds the collections of state type t.
func layoutOf(t reflect.Type) stateLayout {
	var l stateLayout
	l.find(t, nil)
	return l
}

func (l *stateLayout) find(t reflect.Type, at []int) {
	if isStateObject(t) {
		l.paths = append(l.paths, slices.Clone(at))
		return
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if skipped(f) || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		l.find(f.Type, append(at, i))
	}
}

// objects returns the collections of the state s points to.
func (l stateLayout) objects(s any) []stateObject {
	if len(l.paths) == 0 {
		return nil
	}
	v := reflect.ValueOf(s).Elem()
	out := make([]stateObject, len(l.paths))
	for i, p := range l.paths {
		out[i] = v.FieldByIndex(p).Addr().Interface().(stateObject)
	}
	return out
}
