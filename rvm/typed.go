package rvm

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unsafe"
)

// Typed views: a task keeps Go values of a plain type in a segment and
// uses them as ordinary variables and slices, without unsafe. A plain
// type is one whose bytes are its whole value: booleans, integers,
// floats, complex numbers, and arrays and structs of them. Anything that
// holds a pointer (a pointer, string, slice, map, channel, func,
// interface, uintptr) is refused: a checkpoint would save the address,
// not what it points to, and the garbage collector does not scan
// segments.
//
// A view aliases the segment's memory: it stays valid across a Restore
// (which fills the same memory in place) and until the segment is
// closed.

// ErrNotPlain is returned for a type that cannot live in a segment.
var ErrNotPlain = errors.New("rvm: type cannot live in a segment")

// CheckPlain returns nil when T can live in a segment, else an
// ErrNotPlain naming T and the part of it that holds a pointer.
func CheckPlain[T any]() error { return CheckPlainType(reflect.TypeFor[T]()) }

// CheckPlainType is CheckPlain for a reflect.Type.
func CheckPlainType(t reflect.Type) error {
	if where := pointerIn(t, ""); where != "" {
		return fmt.Errorf("%w: %v holds a pointer (%s), which a checkpoint would not keep", ErrNotPlain, t, where)
	}
	return nil
}

// pointerIn names the first part of t at path that holds a pointer ("":
// none).
func pointerIn(t reflect.Type, path string) string {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return ""
	case reflect.Array:
		return pointerIn(t.Elem(), path+"[]")
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if w := pointerIn(f.Type, path+"."+f.Name); w != "" {
				return w
			}
		}
		return ""
	}
	if path == "" {
		return "it is a " + t.Kind().String()
	}
	return fmt.Sprintf("%s is a %v", strings.TrimPrefix(path, "."), t)
}

// Slice returns n values of type T laid out in s from byte offset off, as
// an ordinary Go slice over the segment's memory: writes to it are
// writes to the segment, saved by the next checkpoint and back after a
// restore. It refuses a type that is not plain (ErrNotPlain), and a
// range outside the segment or misaligned for T.
func Slice[T any](s *Segment, off, n int) ([]T, error) {
	if err := CheckPlain[T](); err != nil {
		return nil, err
	}
	var zero T
	size, align := int(unsafe.Sizeof(zero)), int(unsafe.Alignof(zero))
	if n < 0 || off < 0 || off > len(s.mem) || (size > 0 && n > (len(s.mem)-off)/size) || off%align != 0 {
		return nil, fmt.Errorf("rvm: %d values of %d bytes at %d outside or misaligned in segment %q of %d bytes",
			n, size, off, s.name, len(s.mem))
	}
	if n == 0 {
		return []T{}, nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&s.mem[off])), n), nil
}
