package rvm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// DefaultPageSize is the paper's page size.
const DefaultPageSize = 8 << 10

// Method is how a segment finds the pages written since its last checkpoint.
type Method int

// Tracking methods.
const (
	Auto       Method = iota // Compare up to AutoCompareMax bytes; above, WriteTrack when the OS offers it, else Compare
	Compare                  // compare with the last checkpointed image
	WriteTrack               // userfaultfd async write-protect + PAGEMAP_SCAN
)

func (m Method) String() string {
	return [...]string{"auto", "compare", "write-track"}[m]
}

// AutoCompareMax is the largest segment Auto tracks by comparison: below
// it, comparing every page with its last checkpointed image (memory
// bandwidth: about 10 µs for 128 KiB) costs less than write-protecting
// the written pages again, whose TLB flush costs tens to hundreds of µs
// a call whatever the number of pages (BenchmarkSmallSegmentScan).
const AutoCompareMax = 128 << 10

// Config configures a segment.
type Config struct {
	PageSize int    // bytes per page, a multiple of the OS page size (default 8 KiB)
	Method   Method // default Auto
	Logger   *zap.Logger
}

// Errors.
var (
	ErrBadConfig   = errors.New("rvm: bad segment configuration")
	ErrClosed      = errors.New("rvm: segment closed")
	ErrCorruptPage = errors.New("rvm: saved page is corrupt")
	ErrNoImage     = errors.New("rvm: no checkpoint saved for this segment")
)

// Segment is page-granular memory a task uses as ordinary Go memory.
// Reads and writes of Bytes() need no synchronisation with the segment; a
// checkpoint must run while the task is stopped at a safe point.
type Segment struct {
	name     string
	pageSize int
	method   Method
	log      *zap.Logger

	mu     sync.Mutex   // guards everything below (not the memory itself)
	mem    []byte       // the mapping the task uses
	tr     Tracker      // finds the written pages
	carry  map[int]bool // pages found dirty, not yet saved by a checkpoint
	hints  map[int]bool // pages the task said it wrote
	closed bool
}

// NewSegment maps a zero-filled segment of size bytes (rounded up to whole
// pages) named name.
func NewSegment(name string, size int, cfg Config) (*Segment, error) {
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	osPage := unix.Getpagesize()
	if cfg.PageSize < osPage || cfg.PageSize%osPage != 0 || size <= 0 || name == "" {
		return nil, fmt.Errorf("%w: name %q, size %d, page size %d (a multiple of %d)", ErrBadConfig, name, size, cfg.PageSize, osPage)
	}
	size = (size + cfg.PageSize - 1) / cfg.PageSize * cfg.PageSize
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("rvm: map segment %q of %d bytes: %w", name, size, err)
	}
	s := &Segment{name: name, pageSize: cfg.PageSize, log: cfg.Logger.With(zap.String("segment", name)), mem: mem,
		carry: map[int]bool{}, hints: map[int]bool{}}
	s.chooseTracker(cfg.Method)
	return s, nil
}

// chooseTracker sets up write tracking, falling back to comparison; Auto
// compares a segment of at most AutoCompareMax bytes.
func (s *Segment) chooseTracker(m Method) {
	if m == Auto && len(s.mem) <= AutoCompareMax {
		s.log.Info("small segment: dirty pages found by comparison", zap.Int("bytes", len(s.mem)))
		m = Compare
	}
	if m != Compare {
		wt, err := newWriteTracker(s.mem)
		if err == nil {
			s.tr, s.method = &osTracker{wt: wt, pageSize: s.pageSize}, WriteTrack
			s.log.Info("dirty pages tracked by the OS", zap.String("method", "userfaultfd async write-protect + PAGEMAP_SCAN"))
			return
		}
		s.log.Info("OS write tracking unavailable; comparing with the last checkpoint", zap.Error(err))
	}
	s.method = Compare
	s.tr = newCompareTracker(s.mem, s.pageSize)
}

// Name, PageSize, Pages and Method describe the segment.
func (s *Segment) Name() string   { return s.name }
func (s *Segment) PageSize() int  { return s.pageSize }
func (s *Segment) Pages() int     { return len(s.mem) / s.pageSize }
func (s *Segment) Method() Method { return s.method }

// Bytes is the segment's memory.
func (s *Segment) Bytes() []byte { return s.mem }

// Uint32s is the segment viewed as 32-bit words.
func (s *Segment) Uint32s() []uint32 {
	return unsafe.Slice((*uint32)(unsafe.Pointer(&s.mem[0])), len(s.mem)/4)
}

// View returns a *T over the segment at byte offset off. T must be plain
// (typed.go): a type that holds a pointer is refused with ErrNotPlain.
func View[T any](s *Segment, off int) (*T, error) {
	if err := CheckPlain[T](); err != nil {
		return nil, err
	}
	var zero T
	n := int(unsafe.Sizeof(zero))
	if off < 0 || off+n > len(s.mem) || off%int(unsafe.Alignof(zero)) != 0 {
		return nil, fmt.Errorf("rvm: view of %d bytes at %d outside or misaligned in segment %q of %d bytes", n, off, s.name, len(s.mem))
	}
	return (*T)(unsafe.Pointer(&s.mem[off])), nil
}

// Hint says bytes [off, off+n) were written. Never needed for correctness:
// with Compare, hinted pages are saved without being compared.
func (s *Segment) Hint(off, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := off / s.pageSize; p*s.pageSize < off+n && p < s.Pages(); p++ {
		if p >= 0 {
			s.hints[p] = true
		}
	}
}

// Dirty lists the pages written since the last checkpoint, in order. It
// does not reset anything.
func (s *Segment) Dirty() ([]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	set, err := s.dirtyLocked(false)
	if err != nil {
		return nil, err
	}
	return sortedPages(set), nil
}

// dirtyLocked finds the dirty pages; with take, write tracking is reset and
// what it found is carried until a checkpoint saves it.
func (s *Segment) dirtyLocked(take bool) (map[int]bool, error) {
	set := make(map[int]bool, len(s.carry)+len(s.hints))
	for p := range s.carry {
		set[p] = true
	}
	for p := range s.hints {
		set[p] = true
	}
	if err := s.tr.Written(set, take); err != nil {
		return nil, fmt.Errorf("rvm: find written pages of %q: %w", s.name, err)
	}
	if take {
		s.carry, s.hints = set, map[int]bool{}
	}
	return set, nil
}

func sortedPages(set map[int]bool) []int {
	out := slices.AppendSeq(make([]int, 0, len(set)), maps.Keys(set))
	slices.Sort(out)
	return out
}

// Close unmaps the segment.
func (s *Segment) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.tr.Close()
	return unix.Munmap(s.mem)
}

// CheckpointStats says what a checkpoint did.
type CheckpointStats struct {
	Pages int // pages saved
	Bytes int
}

// Checkpoint saves the pages written since the last checkpoint into store,
// as one atomic save. The task must be stopped. On error nothing is lost:
// the pages stay dirty for the next checkpoint.
func (s *Segment) Checkpoint(ctx context.Context, store PageStore) (CheckpointStats, error) {
	return Checkpoint(ctx, store, s)
}

// Checkpoint saves the dirty pages of several segments of one task. With a
// BatchStore the save is atomic across the segments (a restore never mixes
// two checkpoints); with a plain PageStore each segment is saved on its own.
func Checkpoint(ctx context.Context, store PageStore, segs ...*Segment) (CheckpointStats, error) {
	seen := make(map[*Segment]bool, len(segs))
	for _, s := range segs {
		if s == nil {
			return CheckpointStats{}, fmt.Errorf("%w: nil segment in a checkpoint", ErrBadConfig)
		}
		if seen[s] {
			return CheckpointStats{}, fmt.Errorf("%w: segment %q named twice in one checkpoint", ErrBadConfig, s.name)
		}
		seen[s] = true
	}
	for _, s := range segs {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	batch := make([]SegmentPages, 0, len(segs))
	var st CheckpointStats
	for _, s := range segs {
		sp, err := s.collectLocked()
		if err != nil {
			return CheckpointStats{}, err
		}
		batch = append(batch, sp)
		st.Pages += len(sp.Pages)
		st.Bytes += len(sp.Pages) * s.pageSize
	}
	if err := saveBatch(ctx, store, batch); err != nil {
		return CheckpointStats{}, err
	}
	for i, s := range segs {
		s.savedLocked(batch[i].Pages)
	}
	return st, nil
}

func saveBatch(ctx context.Context, store PageStore, batch []SegmentPages) error {
	if bs, ok := store.(BatchStore); ok {
		if err := bs.SaveBatch(ctx, batch); err != nil {
			return fmt.Errorf("rvm: checkpoint: %w", err)
		}
		return nil
	}
	for _, sp := range batch {
		if err := store.SavePages(ctx, sp.Segment, sp.NPages, sp.Pages); err != nil {
			return fmt.Errorf("rvm: checkpoint %q: %w", sp.Segment, err)
		}
	}
	return nil
}

// collectLocked finds the dirty pages and hands them over as the live
// memory of the stopped task: the store copies what it keeps, so each page
// is copied once.
func (s *Segment) collectLocked() (SegmentPages, error) {
	if s.closed {
		return SegmentPages{}, ErrClosed
	}
	set, err := s.dirtyLocked(true)
	if err != nil {
		return SegmentPages{}, err
	}
	pages := make(map[int][]byte, len(set))
	for p := range set {
		pages[p] = s.mem[p*s.pageSize : (p+1)*s.pageSize : (p+1)*s.pageSize]
	}
	return SegmentPages{Segment: s.name, NPages: s.Pages(), Pages: pages}, nil
}

// savedLocked records that pages reached the store.
func (s *Segment) savedLocked(pages map[int][]byte) {
	for p, img := range pages {
		s.tr.Saved(p, img)
		delete(s.carry, p)
	}
}

// Restore fills the segment with its last checkpoint from store (pages never
// saved are zero). The task must not be running.
func (s *Segment) Restore(ctx context.Context, store PageStore) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	pages, err := store.LoadPages(ctx, s.name)
	if err != nil {
		return fmt.Errorf("rvm: restore %q: %w", s.name, err)
	}
	for p, img := range pages {
		if p < 0 || p >= s.Pages() || len(img) != s.pageSize {
			return fmt.Errorf("rvm: restore %q: %w: page %d of %d bytes does not fit", s.name, ErrCorruptPage, p, len(img))
		}
	}
	clear(s.mem)
	for p, img := range pages {
		copy(s.mem[p*s.pageSize:], img)
	}
	if err := s.tr.Baseline(); err != nil { // the restore itself is not a change
		return fmt.Errorf("rvm: restore %q: %w", s.name, err)
	}
	s.carry, s.hints = map[int]bool{}, map[int]bool{}
	return nil
}
