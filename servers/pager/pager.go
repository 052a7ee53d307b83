package pager

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/servers"
)

// DefaultChunkPages is how many pages one save or load call carries at most.
const DefaultChunkPages = 64

// FPSavesSent is the pager's failpoint (Options.Failpoint; the subject is
// the task): every dirty page of a checkpoint is at its segment's unit,
// and the atomic action that commits them has not started.
const FPSavesSent = "pager.saves-sent"

// Options tune a Pager.
type Options struct {
	ChunkPages int           // pages per save or load call (default DefaultChunkPages)
	Settle     time.Duration // how long Restore waits for a segment unit with unended saves (default 5 s)
	// Failpoint is hit at FPSavesSent; an error fails that checkpoint
	// there. Tests and crash runs only.
	Failpoint failpoint.Hook
	// Inline sends the page images in the save requests even to segment
	// servers in this process (by default they are lent: handoff.go).
	Inline bool
}

// Pager checkpoints and restores the segments of one task through their
// segment servers, in the atomic actions of the task's application RU.
// It takes one checkpoint at a time: Checkpoint and its Store's SaveBatch
// are not called concurrently (the task's driver calls them in turn).
type Pager struct {
	app   *servers.Client
	task  string
	segs  []*rvm.Segment
	pages map[string]int // segment → page size
	opt   Options
	// inline: segments whose server refused lent pages (another process);
	// written by the checkpoint in progress only.
	inline map[string]bool
	proc   string // the process its lent saves name (processNonce; tests play another)
}

// New returns the pager of task's segments; app is the task's application
// client (its RU is the task's). app's kernel task must not be one a
// checkpoint stops (rvm.SafePoint.AttachTask): the pager calls through it
// while the task is stopped.
func New(app *servers.Client, task string, opt Options, segs ...*rvm.Segment) (*Pager, error) {
	if app == nil || task == "" {
		return nil, fmt.Errorf("%w: a pager needs a client and a task name", rvm.ErrBadConfig)
	}
	if opt.ChunkPages <= 0 {
		opt.ChunkPages = DefaultChunkPages
	}
	if opt.Settle <= 0 {
		opt.Settle = 5 * time.Second
	}
	p := &Pager{app: app, task: task, segs: segs, pages: map[string]int{}, opt: opt, inline: map[string]bool{}, proc: processNonce}
	for _, s := range segs {
		if s == nil {
			return nil, fmt.Errorf("%w: nil segment", rvm.ErrBadConfig)
		}
		if _, dup := p.pages[s.Name()]; dup {
			return nil, fmt.Errorf("%w: segment %q named twice", rvm.ErrBadConfig, s.Name())
		}
		p.pages[s.Name()] = s.PageSize()
	}
	return p, nil
}

// Add makes s one more of the pager's segments (a task maps its segments
// one by one); its segment server must run before the next checkpoint.
func (p *Pager) Add(s *rvm.Segment) error {
	if s == nil {
		return fmt.Errorf("%w: nil segment", rvm.ErrBadConfig)
	}
	if _, dup := p.pages[s.Name()]; dup {
		return fmt.Errorf("%w: segment %q named twice", rvm.ErrBadConfig, s.Name())
	}
	p.pages[s.Name()] = s.PageSize()
	p.segs = append(p.segs, s)
	return nil
}

// Store is the pager as an rvm.BatchStore: SaveBatch sends the pages
// given to their segments' units and checkpoints the application RU with
// them (one atomic action); LoadPages reads a segment's last committed
// pages. For a task that captures its pages first and commits them later:
// the images given to SaveBatch are lent to the segment servers (not
// copied), so the caller must never change them after.
func (p *Pager) Store() rvm.BatchStore { return (*store)(p) }

// Checkpoint saves the pages written since the last checkpoint of every
// segment and commits them with the application RU (one atomic action).
// The task must be stopped (or use CheckpointTask). On error the pages
// stay dirty; an rvm-wrapped servers.ErrAborted means the action aborted
// and the task goes back to its last checkpoint (Restore).
func (p *Pager) Checkpoint(ctx context.Context) (rvm.CheckpointStats, error) {
	return rvm.Checkpoint(ctx, (*liveStore)(p), p.segs...)
}

// CheckpointTask stops the task at a safe point, checkpoints and resumes it.
func (p *Pager) CheckpointTask(ctx context.Context, sp *rvm.SafePoint, timeout time.Duration) (rvm.TaskCheckpoint, error) {
	return sp.CheckpointTask(ctx, timeout, (*liveStore)(p), p.segs...)
}

// Drop drops every segment in one atomic action with the application RU
// (the task ended and never restarts): each segment's unit deletes its
// page objects when the action precommits, and holds no page after it
// commits. On error nothing is dropped.
func (p *Pager) Drop(ctx context.Context) error {
	for _, s := range p.segs {
		unit := UnitName(p.task, s.Name())
		if _, err := dropM.At(unit).Call(ctx, p.app, struct{}{}); err != nil {
			return fmt.Errorf("pager: drop %s: %w", unit, err)
		}
	}
	if err := p.app.Checkpoint(ctx); err != nil {
		return fmt.Errorf("pager: drop the segments of task %s: %w", p.task, err)
	}
	return nil
}

// Restore fills every segment with its last committed checkpoint (pages
// never saved are zero). The task must not be running.
func (p *Pager) Restore(ctx context.Context) error {
	for _, s := range p.segs {
		if err := s.Restore(ctx, (*store)(p)); err != nil {
			return err
		}
	}
	return nil
}

// store is the rvm.BatchStore of a pager: a save is save calls to the
// segment units, then the application's checkpoint.
type store Pager

var _ rvm.BatchStore = (*store)(nil)

func (s *store) SavePages(ctx context.Context, seg string, npages int, pages map[int][]byte) error {
	return s.SaveBatch(ctx, []rvm.SegmentPages{{Segment: seg, NPages: npages, Pages: pages}})
}

// SaveBatch hands each segment's dirty pages to its unit (Update calls of
// the app RU), then commits app RU + segment RUs in one checkpoint. The
// images are lent to the segment servers, not copied: the caller must
// never change them after (Store's contract; the live store copies).
func (s *store) SaveBatch(ctx context.Context, batch []rvm.SegmentPages) error {
	for _, sp := range batch {
		if err := s.saveSegment(ctx, sp); err != nil {
			return err
		}
	}
	if err := s.opt.Failpoint.At(FPSavesSent, s.task); err != nil {
		return fmt.Errorf("pager: checkpoint of task %s: %w", s.task, err)
	}
	if err := s.app.Checkpoint(ctx); err != nil {
		return fmt.Errorf("pager: checkpoint of task %s: %w", s.task, err)
	}
	return nil
}

// saveSegment hands one segment's pages to its unit: lent in one call
// (handoff.go), or inline in calls of at most ChunkPages pages when its
// server is not in this process (or Options.Inline).
func (s *store) saveSegment(ctx context.Context, sp rvm.SegmentPages) error {
	ps, ok := s.pages[sp.Segment]
	if !ok {
		return fmt.Errorf("%w: segment %q is not the pager's", rvm.ErrBadConfig, sp.Segment)
	}
	if len(sp.Pages) == 0 {
		return nil
	}
	unit := UnitName(s.task, sp.Segment)
	req := saveReq{PageSize: ps, NPages: sp.NPages}
	if !s.opt.Inline && !s.inline[sp.Segment] {
		err := s.saveLent(ctx, unit, req, sp.Pages)
		if !errors.Is(err, errNotLent) {
			return err
		}
		s.inline[sp.Segment] = true // its server runs in another process
	}
	return s.saveInline(ctx, unit, req, sp.Pages)
}

// saveLent makes one save call that lends pages to unit.
func (s *store) saveLent(ctx context.Context, unit string, req saveReq, pages map[int][]byte) error {
	req.Proc, req.Ref = s.proc, lend(pages)
	defer giveBack(req.Ref)
	if _, err := saveM.At(unit).Call(ctx, s.app, req); err != nil {
		return fmt.Errorf("pager: save %s: %w", unit, err)
	}
	return nil
}

// saveInline sends pages to unit in the save requests, ChunkPages at most
// per call, in page order.
func (s *store) saveInline(ctx context.Context, unit string, req saveReq, pages map[int][]byte) error {
	idx := make([]int, 0, len(pages))
	for pg := range pages {
		idx = append(idx, pg)
	}
	slices.Sort(idx)
	for len(idx) > 0 {
		n := min(len(idx), s.opt.ChunkPages)
		req.Pages = make(map[int][]byte, n)
		for _, pg := range idx[:n] {
			req.Pages[pg] = pages[pg]
		}
		idx = idx[n:]
		if _, err := saveM.At(unit).Call(ctx, s.app, req); err != nil {
			return fmt.Errorf("pager: save %s: %w", unit, err)
		}
	}
	return nil
}

// liveStore is the store of a checkpoint of live segment memory
// (Checkpoint, CheckpointTask): it copies the pages it is handed, once,
// and lends the copies.
type liveStore Pager

func (s *liveStore) SavePages(ctx context.Context, seg string, npages int, pages map[int][]byte) error {
	return s.SaveBatch(ctx, []rvm.SegmentPages{{Segment: seg, NPages: npages, Pages: pages}})
}

func (s *liveStore) SaveBatch(ctx context.Context, batch []rvm.SegmentPages) error {
	own := make([]rvm.SegmentPages, len(batch))
	for i, sp := range batch {
		own[i] = sp
		own[i].Pages = copyPages(sp.Pages)
	}
	return (*store)(s).SaveBatch(ctx, own)
}

func (s *liveStore) LoadPages(ctx context.Context, seg string) (map[int][]byte, error) {
	return (*store)(s).LoadPages(ctx, seg)
}

// copyPages copies page images into one allocation.
func copyPages(pages map[int][]byte) map[int][]byte {
	total := 0
	for _, img := range pages {
		total += len(img)
	}
	slab := make([]byte, 0, total)
	out := make(map[int][]byte, len(pages))
	for p, img := range pages {
		n := len(slab)
		slab = append(slab, img...)
		out[p] = slab[n:len(slab):len(slab)]
	}
	return out
}

// LoadPages reads the segment's last committed pages from its unit.
func (s *store) LoadPages(ctx context.Context, seg string) (map[int][]byte, error) {
	unit := UnitName(s.task, seg)
	out := map[int][]byte{}
	deadline := time.Now().Add(s.opt.Settle)
	aborted := false
	for from := 0; from >= 0; {
		resp, err := loadM.At(unit).Call(ctx, s.app, loadReq{From: from, Max: s.opt.ChunkPages})
		var re *servers.RemoteError
		switch {
		case err == nil:
		case errors.Is(err, servers.ErrAborted) && !aborted:
			aborted = true // an abort of the app RU reported once: a load has no effect, ask again
			continue
		case errors.Is(err, ErrUnsettled) && time.Now().Before(deadline):
			select { // the unit's RU has saves of an RU not ended yet: wait for its abort or commit
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
			continue
		case errors.Is(err, errCorrupt) && errors.As(err, &re):
			return nil, fmt.Errorf("%w: %s", rvm.ErrCorruptPage, re.Msg)
		default:
			return nil, fmt.Errorf("pager: load %s: %w", unit, err)
		}
		if ps := s.pages[seg]; len(resp.Pages) > 0 && resp.PageSize != ps {
			return nil, fmt.Errorf("%w: %s keeps pages of %d bytes, the segment's are %d", rvm.ErrCorruptPage, unit, resp.PageSize, ps)
		}
		for pg, img := range resp.Pages {
			out[pg] = img
		}
		if resp.Next >= 0 && resp.Next <= from {
			return nil, fmt.Errorf("pager: load %s: no progress at page %d", unit, from)
		}
		from = resp.Next
	}
	return out, nil
}
