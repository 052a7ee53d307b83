package task

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/ftm-in-go/ftm/rvm"
)

// A checkpoint taken at a Poll is committed in the background (§6.2's
// overhead is mostly the task waiting for the backup's acknowledgement):
// the task stops only while its dirty pages are found and copied, then
// runs on while the copy is committed to the store as one transaction. At
// most one commit is in flight; the next checkpoint, Checkpoint and the
// end of Run wait for it first. A checkpoint counts (Stats.Checkpoints,
// LastProgress) once its commit is acknowledged.
//
// If the node dies while a commit is in flight, the store holds either that
// checkpoint or the one before, each whole (one transaction), and the task
// restarts from it: exactly what a blocking checkpoint would give if the
// node died during it. If the commit is refused (stm.ErrNoBackup), the
// pages it carried were already marked clean by rvm, so they are carried
// into the next checkpoint: a page not dirtied since still holds the image
// that was copied, and a page dirtied since is overwritten by its newer
// image.

// flight is one checkpoint being committed.
type flight struct {
	done     chan struct{} // closed when err is set
	err      error
	batch    []rvm.SegmentPages // private copies of the pages
	pages    int
	bytes    int64
	progress int64 // work done when the pages were copied
	total    int64 // the total work then
}

// captureStore receives the pages rvm.Checkpoint hands over (the task's
// live memory) and keeps a private copy of them.
type captureStore struct{ batch []rvm.SegmentPages }

var errCaptureOnly = errors.New("task: the capture store only receives pages")

func (c *captureStore) SaveBatch(_ context.Context, batch []rvm.SegmentPages) error {
	for _, sp := range batch {
		cp := rvm.SegmentPages{Segment: sp.Segment, NPages: sp.NPages, Pages: make(map[int][]byte, len(sp.Pages))}
		for p, img := range sp.Pages {
			cp.Pages[p] = append([]byte(nil), img...)
		}
		c.batch = append(c.batch, cp)
	}
	return nil
}

func (c *captureStore) SavePages(ctx context.Context, seg string, n int, pages map[int][]byte) error {
	return c.SaveBatch(ctx, []rvm.SegmentPages{{Segment: seg, NPages: n, Pages: pages}})
}

func (c *captureStore) LoadPages(context.Context, string) (map[int][]byte, error) {
	return nil, errCaptureOnly
}

// merge returns carried pages overridden by newer ones, segment by segment.
func merge(carried, newer []rvm.SegmentPages) []rvm.SegmentPages {
	if len(carried) == 0 {
		return newer
	}
	out := make([]rvm.SegmentPages, 0, len(newer))
	old := map[string]rvm.SegmentPages{}
	for _, sp := range carried {
		old[sp.Segment] = sp
	}
	for _, sp := range newer {
		if o, ok := old[sp.Segment]; ok {
			pages := maps.Clone(o.Pages)
			maps.Copy(pages, sp.Pages)
			sp.Pages = pages
			delete(old, sp.Segment)
		}
		out = append(out, sp)
	}
	for _, sp := range carried { // segments with nothing new, in their order
		if o, ok := old[sp.Segment]; ok {
			out = append(out, o)
		}
	}
	return out
}

// capture finds and copies the dirty pages of every segment, with the
// pages of a refused commit carried in.
func (t *Task) capture(ctx context.Context) (*flight, error) {
	var c captureStore
	if _, err := rvm.Checkpoint(ctx, &c, t.segs...); err != nil {
		return nil, err
	}
	f := &flight{done: make(chan struct{}), batch: merge(t.carry, c.batch), progress: t.done, total: t.total}
	t.carry = nil
	for _, sp := range f.batch {
		f.pages += len(sp.Pages)
		for _, img := range sp.Pages {
			f.bytes += int64(len(img))
		}
	}
	return f, nil
}

// commit saves f's pages in the store, atomically when it is a BatchStore.
func (t *Task) commit(ctx context.Context, f *flight) error {
	if err := t.cfg.Failpoint.At(FPCheckpointSave, t.cfg.Name); err != nil {
		return err
	}
	if err := t.save(ctx, f.batch); err != nil {
		return err
	}
	return t.cfg.Failpoint.At(FPCheckpointSaved, t.cfg.Name)
}

func (t *Task) save(ctx context.Context, batch []rvm.SegmentPages) error {
	if bs, ok := t.cfg.Store.(rvm.BatchStore); ok {
		return bs.SaveBatch(ctx, batch)
	}
	for _, sp := range batch {
		if err := t.cfg.Store.SavePages(ctx, sp.Segment, sp.NPages, sp.Pages); err != nil {
			return err
		}
	}
	return nil
}

// launch commits f in the background.
func (t *Task) launch(ctx context.Context, f *flight) {
	t.inflight = f
	go func() {
		f.err = t.commit(ctx, f)
		close(f.done)
	}()
}

// settle waits for the commit in flight, if any, and accounts for it: a
// commit refused for want of a backup is counted as skipped and its pages
// carried into the next checkpoint; any other failure is returned.
func (t *Task) settle(ctx context.Context) error {
	f := t.inflight
	if f == nil {
		return nil
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	t.inflight = nil
	if f.err != nil {
		if isNoBackup(f.err) {
			t.carry = f.batch
			t.skipped(f.err)
			return nil
		}
		return f.err
	}
	if t.unit != nil {
		t.unit.used = false // the calls so far are committed
	}
	t.updateStats(func(s *Stats) {
		s.Checkpoints++
		s.PagesSaved += f.pages
		s.BytesSaved += f.bytes
		s.LastProgress, s.Total = f.progress, f.total
	})
	return nil
}

// stopped adds d to the time the task was stopped for checkpoints.
func (t *Task) stopped(d time.Duration) {
	t.updateStats(func(s *Stats) { s.TimeStopped += d; s.Stops.add(d) })
}

// drain waits for a commit in flight to end, whatever ctx says, so no
// goroutine outlives the task, and accounts for it.
func (t *Task) drain() {
	if t.inflight != nil {
		_ = t.settle(context.Background())
	}
}
