package task

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"reflect"

	"github.com/ftm-in-go/ftm/rvm"
)

// Stable memory objects (paper §4.3): a task allocates named, typed
// objects that belong to it — and so to its recovery unit — in its heap
// segment ("heap", Config.HeapSize bytes), checkpointed and restored with
// its other segments. The heap starts with a directory (heapDirSize
// bytes: a header and one entry per object: name, type, offset, size), so
// an object is found again by name after a restore, whatever order the
// program allocates in; the objects follow it, 16-byte aligned.

// HeapSegment is the name of a task's heap segment (Object).
const HeapSegment = "heap"

// DefaultHeapSize is a task's heap size when Config.HeapSize is 0.
const DefaultHeapSize = 64 << 10

const (
	heapDirSize   = 4096
	heapHeader    = 16 // magic (8), next free offset (4), entries (4)
	heapEntrySize = 64 // name (40), type hash (8), offset (4), size (4), unused (8)
	heapNameMax   = 40
	heapMaxObjs   = (heapDirSize - heapHeader) / heapEntrySize
	heapMagic     = 0x7061656874667466 // "ftfheap" tag
)

var (
	// ErrHeapFull is returned by Object when the task's heap has no room
	// (Config.HeapSize) or no directory entry left for a new object.
	ErrHeapFull = errors.New("task: stable heap full")
	// ErrObjectType is returned by Object for a name already allocated
	// with another type.
	ErrObjectType = errors.New("task: stable object has another type")
)

// Object returns the task's stable object name of type T: zero when first
// allocated, and as it was at the task's last checkpoint after a restore
// (a takeover, a restart, a rollback). The pointer stays valid for the
// task's run, across rollbacks (the heap is restored in place). T must be
// plain (rvm.CheckPlain: numbers, arrays and structs of them), else
// rvm.ErrNotPlain. For the task's goroutine only.
func Object[T any](ctx context.Context, t *Task, name string) (*T, error) {
	if err := rvm.CheckPlain[T](); err != nil {
		return nil, fmt.Errorf("task: stable object %q: %w", name, err)
	}
	if name == "" || len(name) > heapNameMax {
		return nil, fmt.Errorf("%w: stable object name %q (1 to %d bytes)", rvm.ErrBadConfig, name, heapNameMax)
	}
	heap, err := t.Segment(ctx, HeapSegment, max(t.cfg.HeapSize, heapDirSize+16))
	if err != nil {
		return nil, err
	}
	typ := reflect.TypeFor[T]()
	off, err := heapPlace(heap, name, typeHash(typ), max(int(typ.Size()), 1))
	if err != nil {
		return nil, fmt.Errorf("task: stable object %q: %w", name, err)
	}
	return rvm.View[T](heap, off)
}

// typeHash identifies a type in the heap directory.
func typeHash(t reflect.Type) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%s/%d", t.PkgPath(), t.String(), t.Size())
	return h.Sum64()
}

// heapPlace finds object name in heap's directory, or allocates it: its
// offset.
func heapPlace(heap *rvm.Segment, name string, hash uint64, size int) (int, error) {
	mem := heap.Bytes()
	le := binary.LittleEndian
	if le.Uint64(mem) != heapMagic {
		le.PutUint64(mem, heapMagic)
		le.PutUint32(mem[8:], heapDirSize)
		le.PutUint32(mem[12:], 0)
	}
	n := int(le.Uint32(mem[12:]))
	for i := range min(n, heapMaxObjs) {
		e := mem[heapHeader+i*heapEntrySize:][:heapEntrySize]
		if entryName(e) != name {
			continue
		}
		if le.Uint64(e[40:]) != hash || int(le.Uint32(e[52:])) != size {
			return 0, fmt.Errorf("%w (%d bytes allocated)", ErrObjectType, le.Uint32(e[52:]))
		}
		return int(le.Uint32(e[48:])), nil
	}
	off := (int(le.Uint32(mem[8:])) + 15) &^ 15
	if n >= heapMaxObjs || off+size > len(mem) {
		return 0, fmt.Errorf("%w: %d objects, %d of %d bytes used, %d more wanted", ErrHeapFull, n, off, len(mem), size)
	}
	e := mem[heapHeader+n*heapEntrySize:][:heapEntrySize]
	clear(e)
	copy(e, name)
	le.PutUint64(e[40:], hash)
	le.PutUint32(e[48:], uint32(off))
	le.PutUint32(e[52:], uint32(size))
	le.PutUint32(mem[8:], uint32(off+size))
	le.PutUint32(mem[12:], uint32(n+1))
	return off, nil
}

// entryName is the name a directory entry holds.
func entryName(e []byte) string {
	n := 0
	for n < heapNameMax && e[n] != 0 {
		n++
	}
	return string(e[:n])
}
