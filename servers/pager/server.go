package pager

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"sync/atomic"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/stm"
	"go.uber.org/zap"
)

// MaxPages bounds a segment's page count (its state lists a page object
// per saved page).
const MaxPages = 1 << 20

// Config configures the server of one segment.
type Config struct {
	Task     string          // the task owning the segment
	Segment  string          // the segment's name (rvm.Segment.Name)
	PageSize int             // the segment's page size (default rvm.DefaultPageSize)
	Driver   *servers.Driver // runs the segment's recovery unit; its bank keeps the pages
	Logger   *zap.Logger
}

// UnitName is the server and recovery-unit name of a task's segment.
func UnitName(task, segment string) string { return "pager/" + task + "/" + segment }

// segState is the segment server's S: the geometry, where each saved page
// is in STM, and the pages received in the current RU that are not page
// objects yet (they become page objects when the RU precommits; they stay
// in S only if the RU committed alone, without a precommit).
type segState struct {
	PageSize int
	NPages   int
	IDs      map[int]uint64 // page → STM object: CRC-32C (4 bytes) ‖ image
	Pending  map[int][]byte
	// Drop: the segment is dropped in the current RU (its task ended); its
	// page objects are deleted when the RU precommits, and it holds no page
	// from then on.
	Drop bool
}

type saveReq struct {
	PageSize int
	NPages   int
	Pages    map[int][]byte // the images, inline (none when lent)
	// Proc and Ref name pages lent within the process (handoff.go): the
	// images are taken from there, not from the request.
	Proc string
	Ref  uint64
}

type loadReq struct {
	From int // first page index wanted
	Max  int // at most this many pages
}

type loadResp struct {
	PageSize int
	NPages   int
	Pages    map[int][]byte
	Next     int // first page index not yet returned; -1 when done
}

var (
	// ErrUnsettled: the segment's unit holds saves of an RU that has not
	// ended; a restore waits for it to commit or abort.
	ErrUnsettled = errors.New("pager: segment has saves not checkpointed")
	errBadSave   = errors.New("pager: bad save")
	errNotLent   = errors.New("pager: pages not lent in this process")
	errCorrupt   = errors.New("pager: corrupt page object")
)

// The segment server's methods, declared once: the server registers them,
// the pager calls them (bound to the segment's unit) and recognizes their
// declared errors on its side of the wire.
var (
	saveM = servers.NewMethod[saveReq, int]("save", servers.Update, errBadSave, errNotLent)
	dropM = servers.NewMethod[struct{}, int]("drop", servers.Update)
	loadM = servers.NewMethod[loadReq, loadResp]("load", servers.Read, ErrUnsettled, errCorrupt)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// pageSum binds a page image to its unit and index, so a page object found
// under another page or segment is detected too.
func pageSum(unit string, p int, img []byte) uint32 {
	var ix [4]byte
	binary.LittleEndian.PutUint32(ix[:], uint32(p))
	c := crc32.Update(0, castagnoli, []byte(unit))
	c = crc32.Update(c, castagnoli, ix[:])
	return crc32.Update(c, castagnoli, img)
}

// Server is the reliable server of one segment: one recovery unit.
type Server struct {
	cfg      Config
	name     string
	bank     *stm.Bank
	log      *zap.Logger
	srv      *servers.Server[segState]
	modified atomic.Bool // saves received in the current RU
	// staged is what the last precommit changed in S, until its group is
	// decided (withdraw.go). Guarded like S: a call's lock, or the
	// driver's.
	staged *staged
	final  atomic.Pointer[func(*stm.Tx) error]
}

// NewServer returns the server of cfg.Segment; Run serves it.
func NewServer(cfg Config) (*Server, error) {
	if cfg.PageSize == 0 {
		cfg.PageSize = rvm.DefaultPageSize
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Driver == nil || cfg.Task == "" || cfg.Segment == "" || cfg.PageSize < 0 {
		return nil, fmt.Errorf("%w: pager server needs Driver, Task, Segment and a page size (task %q, segment %q, page size %d)",
			rvm.ErrBadConfig, cfg.Task, cfg.Segment, cfg.PageSize)
	}
	s := &Server{cfg: cfg, name: UnitName(cfg.Task, cfg.Segment), bank: cfg.Driver.Bank()}
	s.log = cfg.Logger.With(zap.String("pager", s.name))
	var err error
	s.srv, err = servers.NewServer(servers.Config{Name: s.name, Driver: cfg.Driver, Logger: cfg.Logger},
		func() segState {
			return segState{PageSize: cfg.PageSize, IDs: map[int]uint64{}, Pending: map[int][]byte{}}
		})
	if err != nil {
		return nil, err
	}
	servers.Handle(s.srv, saveM, s.save)
	servers.Handle(s.srv, loadM, s.load)
	servers.Handle(s.srv, dropM, s.drop)
	servers.SetPrecommitWrites(s.srv, s.writePages)
	s.srv.SetHooks(servers.Hooks[segState]{
		Restart:          s.restarted,
		BeforeCheckpoint: s.beforeCheckpoint,
		AfterCheckpoint:  s.afterCheckpoint,
	})
	return s, nil
}

func fillMaps(st *segState) {
	if st.IDs == nil {
		st.IDs = map[int]uint64{}
	}
	if st.Pending == nil {
		st.Pending = map[int][]byte{}
	}
}

// Name is the server's (and its unit's) name.
func (s *Server) Name() string { return s.name }

// Run restores the segment server's state from STM and serves until ctx
// ends (servers.Server.Run).
func (s *Server) Run(ctx context.Context) error { return s.srv.Run(ctx) }

// save takes pages of the segment in the current RU.
func (s *Server) save(_ *servers.Call, st *segState, r saveReq) (int, error) {
	fillMaps(st)
	if r.Ref != 0 {
		pages, ok := borrow(r.Proc, r.Ref)
		if !ok {
			return 0, errNotLent
		}
		r.Pages = pages
	}
	if r.PageSize != st.PageSize {
		return 0, fmt.Errorf("%w: page size %d, the segment's is %d", errBadSave, r.PageSize, st.PageSize)
	}
	if r.NPages <= 0 || r.NPages > MaxPages || (st.NPages != 0 && r.NPages != st.NPages) {
		return 0, fmt.Errorf("%w: %d pages (segment has %d, at most %d)", errBadSave, r.NPages, st.NPages, MaxPages)
	}
	for p, img := range r.Pages {
		if p < 0 || p >= r.NPages || len(img) != st.PageSize {
			return 0, fmt.Errorf("%w: page %d of %d bytes in a segment of %d pages of %d", errBadSave, p, len(img), r.NPages, st.PageSize)
		}
	}
	st.NPages = r.NPages
	for p, img := range r.Pages {
		st.Pending[p] = img
	}
	s.modified.Store(true)
	return len(r.Pages), nil
}

// drop drops the segment in the current RU: how many pages it held.
func (s *Server) drop(_ *servers.Call, st *segState, _ struct{}) (int, error) {
	fillMaps(st)
	n := len(st.IDs)
	st.Drop = true
	clear(st.Pending)
	s.modified.Store(true)
	return n, nil
}

// deletePages deletes the page objects of a dropped segment in tx.
func (s *Server) deletePages(tx *stm.Tx, st *segState) error {
	s.staged.dropped(st)
	for p, id := range st.IDs {
		if err := tx.Delete(stm.ID(id)); err != nil && !errors.Is(err, stm.ErrNotFound) {
			return fmt.Errorf("pager: %s drop page %d: %w", s.name, p, err)
		}
	}
	clear(st.IDs)
	clear(st.Pending)
	st.NPages, st.Drop = 0, false
	s.log.Debug("segment dropped")
	return nil
}

// writePages runs in the transaction that precommits S into the
// checkpoint's group: the pending pages become page objects (or, for a
// dropped segment, every page object is deleted).
func (s *Server) writePages(tx *stm.Tx, st *segState) error {
	fillMaps(st)
	s.staged = newStaged(st)
	if st.Drop {
		if err := s.deletePages(tx, st); err != nil {
			return err
		}
		return s.runFinal(tx)
	}
	idx := make([]int, 0, len(st.Pending))
	for p := range st.Pending {
		idx = append(idx, p)
	}
	slices.Sort(idx)
	for _, p := range idx {
		img := st.Pending[p]
		obj := make([]byte, 4+len(img))
		binary.LittleEndian.PutUint32(obj, pageSum(s.name, p, img))
		copy(obj[4:], img)
		if id, ok := st.IDs[p]; ok {
			if err := tx.Put(stm.ID(id), obj); err != nil {
				return fmt.Errorf("pager: %s page %d: %w", s.name, p, err)
			}
			continue
		}
		id, err := tx.Create(obj)
		if err != nil {
			return fmt.Errorf("pager: %s page %d: %w", s.name, p, err)
		}
		st.IDs[p] = uint64(id)
		s.staged.created[p] = uint64(id)
	}
	if len(idx) > 0 {
		s.log.Debug("pages precommitted", zap.Int("pages", len(idx)))
	}
	clear(st.Pending)
	return s.runFinal(tx)
}

// runFinal runs the hook SetFinal installed, if any.
func (s *Server) runFinal(tx *stm.Tx) error {
	if f := s.final.Load(); f != nil {
		return (*f)(tx)
	}
	return nil
}

// SetFinal makes f run in every transaction that precommits this
// segment's pages, until SetFinal(nil): what f writes commits if and only
// if the checkpoint does (a task records its end with its last
// checkpoint). f runs on the driver's goroutine and must be short.
func (s *Server) SetFinal(f func(tx *stm.Tx) error) {
	if f == nil {
		s.final.Store(nil)
		return
	}
	s.final.Store(&f)
}

// ReadCommitted reads the last committed pages of task's segment straight
// from bank, with no server running (a bank that refuses commits has no
// driver): what a load would return, checksums checked, except the pages
// of a checkpoint group still in doubt.
func ReadCommitted(ctx context.Context, bank *stm.Bank, task, segment string) (map[int][]byte, error) {
	unit := UnitName(task, segment)
	st, found, err := servers.ReadState[segState](ctx, bank, unit)
	if err != nil || !found || st.Drop {
		return nil, err
	}
	out := make(map[int][]byte, len(st.IDs)+len(st.Pending))
	err = bank.View(ctx, func(tx *stm.Tx) error {
		for p, id := range st.IDs {
			obj, err := tx.Bytes(stm.ID(id))
			if err != nil {
				return fmt.Errorf("pager: %s page %d: %w", unit, p, err)
			}
			if len(obj) != 4+st.PageSize || binary.LittleEndian.Uint32(obj) != pageSum(unit, p, obj[4:]) {
				return fmt.Errorf("%w: %s page %d (object %d)", rvm.ErrCorruptPage, unit, p, id)
			}
			out[p] = obj[4:]
		}
		return nil
	})
	for p, img := range st.Pending { // committed alone: S held them
		out[p] = img
	}
	return out, err
}

// load returns saved pages from index r.From on, checksums checked.
func (s *Server) load(c *servers.Call, st *segState, r loadReq) (loadResp, error) {
	if s.modified.Load() {
		return loadResp{}, ErrUnsettled
	}
	fillMaps(st)
	resp := loadResp{PageSize: st.PageSize, NPages: st.NPages, Pages: map[int][]byte{}, Next: -1}
	if st.Drop { // committed alone: dropped, its objects not deleted
		return resp, nil
	}
	idx := make([]int, 0, len(st.IDs)+len(st.Pending))
	for p := range st.IDs {
		if p >= r.From {
			idx = append(idx, p)
		}
	}
	for p := range st.Pending {
		if _, ok := st.IDs[p]; !ok && p >= r.From {
			idx = append(idx, p)
		}
	}
	slices.Sort(idx)
	if r.Max > 0 && len(idx) > r.Max {
		resp.Next = idx[r.Max]
		idx = idx[:r.Max]
	}
	err := s.bank.View(c.Context(), func(tx *stm.Tx) error {
		for _, p := range idx {
			if img, ok := st.Pending[p]; ok { // committed alone: S held it
				resp.Pages[p] = img
				continue
			}
			obj, err := tx.Bytes(stm.ID(st.IDs[p]))
			if err != nil {
				return fmt.Errorf("pager: %s page %d: %w", s.name, p, err)
			}
			if len(obj) != 4+st.PageSize || binary.LittleEndian.Uint32(obj) != pageSum(s.name, p, obj[4:]) {
				s.log.Warn("corrupt page object", zap.Int("page", p), zap.Uint64("object", st.IDs[p]))
				return fmt.Errorf("%w: %s page %d (object %d)", errCorrupt, s.name, p, st.IDs[p])
			}
			resp.Pages[p] = obj[4:]
		}
		return nil
	})
	return resp, err
}
