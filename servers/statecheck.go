package servers

import (
	"encoding"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// ErrLossyType is matched (errors.Is) by every *LossyTypeError: a type
// whose values would not survive the codec the framework stores and sends
// them with (stm.Encode, msgpack).
var ErrLossyType = errors.New("servers: type does not survive encoding")

// LossyTypeError names a type refused by NewServer (a state type) or by
// Handle (a request or reply type, reported by Run), the field at fault
// and why it would be lost.
type LossyTypeError struct {
	Role  string       // "state", "request" or "reply"
	Type  reflect.Type // the type checked
	Field string       // path of the field at fault ("" for the type itself)
	Why   string       // "is unexported", "is a func", ...
	Where string       // "at every checkpoint", "on the wire"
}

// Error says which type and field would be lost, and where.
func (e *LossyTypeError) Error() string {
	subject := "the type"
	if e.Field != "" {
		subject = "field " + e.Field
	}
	return fmt.Sprintf("servers: %s type %v: %s %s and would be lost %s", e.Role, e.Type, subject, e.Why, e.Where)
}

// Unwrap makes errors.Is(err, ErrLossyType) true.
func (e *LossyTypeError) Unwrap() error { return ErrLossyType }

var (
	timeType          = reflect.TypeFor[time.Time]()
	selferType        = reflect.TypeFor[codec.Selfer]()
	binaryMarshaler   = reflect.TypeFor[encoding.BinaryMarshaler]()
	binaryUnmarshaler = reflect.TypeFor[encoding.BinaryUnmarshaler]()
)

// checkType walks t (nested structs, maps, slices, arrays, pointers;
// each named type once, so recursive types end) and returns the first
// place where the codec would lose a value: an unexported field, a func, a
// channel, an interface (its concrete type is not restored), a complex
// number, an address. A field tagged `codec:"-"` or `json:"-"` is left
// out on purpose and is not checked. A type that encodes itself
// (codec.Selfer, or encoding.BinaryMarshaler with BinaryUnmarshaler) is
// trusted here and checked by the round trip of a value.
func checkType(t reflect.Type, role, where string) error {
	w := typeWalk{seen: map[reflect.Type]bool{}}
	field, why := w.walk(t, "")
	if why == "" {
		return nil
	}
	return &LossyTypeError{Role: role, Type: t, Field: field, Why: why, Where: where}
}

// typeWalk is one checkType: the types already entered, and whether the
// walk is behind a pointer, a slice, an array or a map (where a Map or
// Log cannot be: its entries are found by its field's place in S).
type typeWalk struct {
	seen      map[reflect.Type]bool
	contained bool
}

// walk returns the path of the first lossy place under t (reached by
// path) and what is wrong with it; why is "" when t is kept whole.
func (w typeWalk) walk(t reflect.Type, path string) (field, why string) {
	if t.Kind() == reflect.Interface {
		return path, fmt.Sprintf("is an interface (%v) whose concrete type is not restored", t)
	}
	if isStateObject(t) {
		return w.collection(t, path)
	}
	if t.Kind() == reflect.Pointer && isStateObject(t.Elem()) { // it encodes itself: not trusted here
		return typeWalk{seen: w.seen, contained: true}.collection(t.Elem(), path)
	}
	if w.seen[t] || encodesItself(t) {
		return "", ""
	}
	w.seen[t] = true
	inner := typeWalk{seen: w.seen, contained: true}
	switch t.Kind() {
	case reflect.Func:
		return path, "is a func"
	case reflect.Chan:
		return path, "is a channel"
	case reflect.Complex64, reflect.Complex128:
		return path, "is a complex number, which the codec does not keep"
	case reflect.Uintptr, reflect.UnsafePointer:
		return path, "is an address"
	case reflect.Pointer:
		return inner.walk(t.Elem(), path)
	case reflect.Slice, reflect.Array:
		return inner.walk(t.Elem(), path+"[]")
	case reflect.Map:
		if field, why := inner.walk(t.Key(), path+"[key]"); why != "" {
			return field, why
		}
		return inner.walk(t.Elem(), path+"[]")
	case reflect.Struct:
		return w.fields(t, path)
	}
	return "", ""
}

// collection checks a Map or Log: in S's struct fields only, and its key
// and value types kept whole when msgpack encodes them (a hand-written
// or the type's own codec is trusted).
func (w typeWalk) collection(t reflect.Type, path string) (field, why string) {
	if w.contained {
		return path, fmt.Sprintf("is a %v behind a pointer, slice, array or map: a collection must be a field of S", t)
	}
	elems := reflect.New(t).Interface().(stateObject).reflectiveTypes()
	for _, suffix := range slices.Sorted(maps.Keys(elems)) {
		inner := typeWalk{seen: w.seen, contained: true}
		if field, why := inner.walk(elems[suffix], path+suffix); why != "" {
			return field, why
		}
	}
	return "", ""
}

// fields walks the encoded fields of struct type t.
func (w typeWalk) fields(t reflect.Type, path string) (field, why string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if skipped(f) {
			continue
		}
		fpath := f.Name
		if path != "" {
			fpath = path + "." + f.Name
		}
		if !f.IsExported() && !(f.Anonymous && f.Type.Kind() == reflect.Struct) {
			// The codec promotes the exported fields of an embedded
			// struct value, whatever its name; nothing else unexported.
			return fpath, "is unexported"
		}
		if field, why := w.walk(f.Type, fpath); why != "" {
			return field, why
		}
	}
	return "", ""
}

// skipped reports a field the codec leaves out by its tag.
func skipped(f reflect.StructField) bool {
	for _, key := range []string{"codec", "json"} {
		if name, _, _ := strings.Cut(f.Tag.Get(key), ","); name == "-" {
			return true
		}
	}
	return false
}

// encodesItself reports a type the codec hands its own encoding to.
func encodesItself(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	if t == timeType || t.Implements(selferType) || p.Implements(selferType) {
		return true
	}
	return (t.Implements(binaryMarshaler) || p.Implements(binaryMarshaler)) && p.Implements(binaryUnmarshaler)
}

// checkState checks state type S and a round trip of its initial value.
func checkState[S any](init S) error {
	t := reflect.TypeFor[S]()
	const where = "at every checkpoint"
	if err := checkType(t, "state", where); err != nil {
		return err
	}
	b, err := encodeStable(&stable[S]{State: init})
	if err != nil {
		return fmt.Errorf("servers: state type %v: initial value: %w", t, err)
	}
	st, err := decodeStable[S](b)
	if err != nil {
		return fmt.Errorf("servers: state type %v: initial value: %w", t, err)
	}
	back := st.State
	if path, differs := diff(reflect.ValueOf(&init).Elem(), reflect.ValueOf(&back).Elem(), ""); differs {
		return &LossyTypeError{Role: "state", Type: t, Field: path,
			Why: "changes in an encode/decode round trip of the initial value", Where: where}
	}
	return nil
}

// diff compares a value with its round trip (same type) field by field
// and returns the path of the first difference. Times compare as
// instants (the codec keeps neither the monotonic reading nor the
// location); fields the codec leaves out are not compared.
func diff(a, b reflect.Value, path string) (string, bool) {
	if isStateObject(a.Type()) {
		return "", false // a Map's or Log's entries are objects of their own
	}
	if encodesItself(a.Type()) && a.CanInterface() {
		if t, ok := a.Interface().(time.Time); ok {
			return path, !t.Equal(b.Interface().(time.Time))
		}
		return path, !reflect.DeepEqual(a.Interface(), b.Interface())
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return path, a.IsNil() != b.IsNil()
		}
		return diff(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		return diffFields(a, b, path)
	case reflect.Slice, reflect.Array:
		return diffElems(a, b, path)
	case reflect.Map:
		return diffMaps(a, b, path)
	}
	return path, !sameLeaf(a, b)
}

func diffFields(a, b reflect.Value, path string) (string, bool) {
	for i := range a.NumField() {
		f := a.Type().Field(i)
		if skipped(f) || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		fpath := f.Name
		if path != "" {
			fpath = path + "." + f.Name
		}
		if p, differs := diff(a.Field(i), b.Field(i), fpath); differs {
			return p, true
		}
	}
	return "", false
}

func diffElems(a, b reflect.Value, path string) (string, bool) {
	if a.Kind() == reflect.Slice && a.IsNil() != b.IsNil() || a.Len() != b.Len() {
		return path, true
	}
	for i := range a.Len() {
		if p, differs := diff(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); differs {
			return p, true
		}
	}
	return "", false
}

func diffMaps(a, b reflect.Value, path string) (string, bool) {
	if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
		return path, true
	}
	it := a.MapRange()
	for it.Next() {
		bv := b.MapIndex(it.Key())
		if !bv.IsValid() {
			return fmt.Sprintf("%s[%v]", path, it.Key()), true
		}
		if p, differs := diff(it.Value(), bv, fmt.Sprintf("%s[%v]", path, it.Key())); differs {
			return p, true
		}
	}
	return "", false
}

// sameLeaf compares two values of a scalar kind (NaN equals NaN: the
// codec keeps it).
func sameLeaf(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	case reflect.Float32, reflect.Float64:
		return a.Float() == b.Float() || math.IsNaN(a.Float()) && math.IsNaN(b.Float())
	case reflect.String:
		return a.String() == b.String()
	}
	if a.CanInterface() {
		return reflect.DeepEqual(a.Interface(), b.Interface())
	}
	return true // unreachable for a type checkType accepted
}
