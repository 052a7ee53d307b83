package pager

import (
	"context"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// BenchmarkPagerCheckpoint is the paper's 4-RU configuration made literal
// (§6: an editor that touched 8 pages): the task's application RU and three
// segment RUs ("data", "stack", "heap", 16 pages of 8 KiB each), 8 dirty
// pages per checkpoint (3+3+2). One op is one pager checkpoint: the save
// calls carrying the pages to the segment units and the atomic action
// committing the four RUs with the page objects. In the same run, the same
// pages of three other segments are checkpointed with rvm.Checkpoint into an
// STMStore over a bank of its own (one STM transaction, also mirrored to a
// backup): x-rvm is the ratio of the two.
func BenchmarkPagerCheckpoint(b *testing.B) {
	pb := newPagerBench(b)
	ctx := context.Background()
	pb.warmUp(ctx)
	b.ResetTimer()
	for k := range b.N {
		b.StopTimer()
		dirtyPages(pb.segs, k+3)
		dirtyPages(pb.base, k+3)
		before := pb.mark()
		b.StartTimer()
		t0 := time.Now()
		st, err := pb.pg.Checkpoint(ctx)
		pb.tPager += time.Since(t0)
		b.StopTimer()
		pb.account(st, err, before)
		pb.tBase += pb.baseCheckpoint(ctx)
		b.StartTimer()
	}
	b.StopTimer()
	pb.report()
}

// pagerBenchSegs are the segments of both paths, 16 pages each.
var pagerBenchSegs = []string{"data", "stack", "heap"}

// pagerBenchDirty is how many pages of each segment a round dirties (8).
var pagerBenchDirty = []int{3, 3, 2}

// pagerBench is BenchmarkPagerCheckpoint's set-up and its totals over the
// measured checkpoints.
type pagerBench struct {
	b         *testing.B
	r         *rig
	pg        *Pager
	segs      []*rvm.Segment  // checkpointed by the pager
	base      []*rvm.Segment  // the same pages, checkpointed by rvm.Checkpoint
	baseStore *rvm.STMStore   // over a mirrored bank of its own
	pd, ad    *servers.Driver // the segment units' driver and the app's

	tPager, tBase          time.Duration
	envs, msgs, txs, pages int64
}

// newPagerBench serves the segment units, makes the pager over its
// segments and the baseline's segments and store.
func newPagerBench(b *testing.B) *pagerBench {
	r := newRig(b)
	r.tick = time.Second // no resend timeout inside a checkpoint
	sizes := map[string]int{"data": 16 * rvm.DefaultPageSize, "stack": 16 * rvm.DefaultPageSize, "heap": 16 * rvm.DefaultPageSize}
	r.serve(task, pagerBenchSegs...)
	app := r.client("app")
	segs := newSegs(b, 0, sizes, pagerBenchSegs...)
	pg, err := New(app, task, Options{}, segs...)
	if err != nil {
		b.Fatal(err)
	}
	base := newSegs(b, 0, sizes, pagerBenchSegs...)
	baseBank, _ := stmtest.Mirrored(b)
	b.Cleanup(func() { _ = baseBank.Close() })
	return &pagerBench{
		b: b, r: r, pg: pg, segs: segs, base: base,
		baseStore: rvm.NewSTMStore(baseBank),
		pd:        r.hosts["p"].driver, ad: r.hosts["a"].driver,
	}
}

// dirtyPages changes pagerBenchDirty pages of each segment, which ones
// depending on round k.
func dirtyPages(segs []*rvm.Segment, k int) {
	for i, s := range segs {
		for j := range pagerBenchDirty[i] {
			p := (k*5 + j*4) % s.Pages()
			s.Bytes()[p*s.PageSize()+k%s.PageSize()] ^= byte(k%255 + 1) // never 0: the page changes
		}
	}
}

// warmUp checkpoints both paths three times (the first checkpoints create
// the page objects).
func (pb *pagerBench) warmUp(ctx context.Context) {
	for k := range 3 {
		dirtyPages(pb.segs, k)
		dirtyPages(pb.base, k)
		if _, err := pb.pg.Checkpoint(ctx); err != nil {
			pb.b.Fatal(err)
		}
		if _, err := rvm.Checkpoint(ctx, pb.baseStore, pb.base...); err != nil {
			pb.b.Fatal(err)
		}
	}
}

// minInc is the lowest incarnation of the segment units.
func (pb *pagerBench) minInc() (min uint64) {
	for i, u := range pb.pd.Inspect().Units {
		if i == 0 || u.Inc < min {
			min = u.Inc
		}
	}
	return min
}

// settled waits until the segment units committed (the decision wave
// reached them).
func (pb *pagerBench) settled(inc uint64) {
	for pb.minInc() < inc {
		time.Sleep(10 * time.Microsecond)
	}
}

// transportTotals sums the envelopes and protocol messages both drivers sent.
func (pb *pagerBench) transportTotals() (envs, msgs int64) {
	e1, m1 := pb.pd.Stats()
	e2, m2 := pb.ad.Stats()
	return e1 + e2, m1 + m2
}

// benchMark is what the counters said before a measured checkpoint.
type benchMark struct {
	inc        uint64 // the segment units' incarnation once it commits
	envs, msgs int64
	commits    uint64
}

// mark reads the counters before a measured checkpoint.
func (pb *pagerBench) mark() benchMark {
	m := benchMark{inc: pb.minInc() + 1}
	m.envs, m.msgs = pb.transportTotals()
	m.commits = pb.r.bank.Stats().Committed
	return m
}

// account checks a measured checkpoint saved the 8 dirty pages, waits for
// the segment units to commit, and adds its pages, messages and STM
// transactions to the totals.
func (pb *pagerBench) account(st rvm.CheckpointStats, err error, before benchMark) {
	if err != nil {
		pb.b.Fatal(err)
	}
	if st.Pages != 8 {
		pb.b.Fatalf("checkpoint saved %d pages, want 8", st.Pages)
	}
	pb.pages += int64(st.Pages)
	pb.settled(before.inc)
	e1, m1 := pb.transportTotals()
	pb.envs, pb.msgs = pb.envs+e1-before.envs, pb.msgs+m1-before.msgs
	pb.txs += int64(pb.r.bank.Stats().Committed - before.commits)
}

// baseCheckpoint checkpoints the baseline's segments and returns how long
// it took.
func (pb *pagerBench) baseCheckpoint(ctx context.Context) time.Duration {
	t0 := time.Now()
	if _, err := rvm.Checkpoint(ctx, pb.baseStore, pb.base...); err != nil {
		pb.b.Fatal(err)
	}
	return time.Since(t0)
}

// report reports the per-checkpoint averages and the pager's time over
// the baseline's (x-rvm).
func (pb *pagerBench) report() {
	n := float64(pb.b.N)
	pb.b.ReportMetric(float64(pb.pages)/n, "pages/ckpt")
	pb.b.ReportMetric(float64(pb.envs)/n, "msgs/ckpt")
	pb.b.ReportMetric(float64(pb.msgs)/n, "ru-msgs/ckpt")
	pb.b.ReportMetric(float64(pb.txs)/n, "stm-tx/ckpt")
	pb.b.ReportMetric(float64(pb.tBase.Nanoseconds())/n, "rvm-ns/ckpt")
	pb.b.ReportMetric(float64(pb.tPager)/float64(pb.tBase), "x-rvm")
}

// BenchmarkPagerCheckpointBulk is Mp3d's case: three segments of 64
// pages of 8 KiB (1.5 MiB), every page written between checkpoints. Two
// tasks alternate in the same run, on the same drivers: one whose pager
// lends its page images to the segment servers (the default), one whose
// pager sends them inline in msgpack-encoded save requests
// (Options.Inline, what every pager did before). x-inline is the lent
// checkpoint's time over the inline one's; MB/s is the lent path's rate.
func BenchmarkPagerCheckpointBulk(b *testing.B) {
	const pages = 64
	r := newRig(b)
	r.tick = time.Second
	sizes := map[string]int{}
	for _, s := range pagerBenchSegs {
		sizes[s] = pages * rvm.DefaultPageSize
	}
	ctx := context.Background()
	var pgs [2]*Pager
	var segs [2][]*rvm.Segment
	for i, name := range []string{"lent", "inline"} {
		r.serve(name, pagerBenchSegs...)
		segs[i] = newSegs(b, 0, sizes, pagerBenchSegs...)
		pg, err := New(r.client("app-"+name), name, Options{Inline: name == "inline"}, segs[i]...)
		if err != nil {
			b.Fatal(err)
		}
		pgs[i] = pg
	}
	var took [2]time.Duration
	for k := range b.N + 2 { // the first two create the page objects
		for i, pg := range pgs {
			for _, s := range segs[i] {
				writeEveryPage(s, k)
			}
			t0 := time.Now()
			st, err := pg.Checkpoint(ctx)
			if err != nil || st.Pages != 3*pages {
				b.Fatalf("checkpoint saved %d pages (%v), want %d", st.Pages, err, 3*pages)
			}
			if k >= 2 {
				took[i] += time.Since(t0)
			}
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(took[0].Nanoseconds())/n, "ns/ckpt-lent")
	b.ReportMetric(float64(took[1].Nanoseconds())/n, "ns/ckpt-inline")
	b.ReportMetric(float64(took[0])/float64(took[1]), "x-inline")
	b.ReportMetric(n*3*pages*rvm.DefaultPageSize/took[0].Seconds()/1e6, "MB/s")
}

// writeEveryPage changes one byte of every page of s (never to its old value).
func writeEveryPage(s *rvm.Segment, k int) {
	for p := range s.Pages() {
		s.Bytes()[p*s.PageSize()+k%s.PageSize()]++
	}
}
