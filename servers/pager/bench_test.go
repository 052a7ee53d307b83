package pager

import (
	"context"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/rvm"
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
	r := newRig(b)
	r.tick = time.Second // no resend timeout inside a checkpoint
	names := []string{"data", "stack", "heap"}
	sizes := map[string]int{"data": 16 * rvm.DefaultPageSize, "stack": 16 * rvm.DefaultPageSize, "heap": 16 * rvm.DefaultPageSize}
	r.serve(task, names...)
	app := r.client("app")
	segs := newSegs(b, 0, sizes, names...)
	pg, err := New(app, task, Options{}, segs...)
	if err != nil {
		b.Fatal(err)
	}
	base := newSegs(b, 0, sizes, names...)
	baseBank, _ := stmtest.Mirrored(b)
	b.Cleanup(func() { _ = baseBank.Close() })
	baseStore := rvm.NewSTMStore(baseBank)
	ctx := context.Background()
	perSeg := []int{3, 3, 2}
	dirty := func(segs []*rvm.Segment, k int) {
		for i, s := range segs {
			for j := range perSeg[i] {
				p := (k*5 + j*4) % s.Pages()
				s.Bytes()[p*s.PageSize()+k%s.PageSize()] ^= byte(k%255 + 1) // never 0: the page changes
			}
		}
	}
	pd, ad := r.hosts["p"].driver, r.hosts["a"].driver
	incs := func() (min uint64) {
		for i, u := range pd.Inspect().Units {
			if i == 0 || u.Inc < min {
				min = u.Inc
			}
		}
		return min
	}
	settled := func(inc uint64) { // the segment units committed (the decision wave reached them)
		for incs() < inc {
			time.Sleep(10 * time.Microsecond)
		}
	}
	total := func() (envs, msgs int64) {
		e1, m1 := pd.Stats()
		e2, m2 := ad.Stats()
		return e1 + e2, m1 + m2
	}
	// Warm up both paths (first checkpoints create the page objects).
	for k := range 3 {
		dirty(segs, k)
		dirty(base, k)
		if _, err := pg.Checkpoint(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := rvm.Checkpoint(ctx, baseStore, base...); err != nil {
			b.Fatal(err)
		}
	}
	var tPager, tBase time.Duration
	var envs, msgs, txs, pages int64
	b.ResetTimer()
	for k := range b.N {
		b.StopTimer()
		dirty(segs, k+3)
		dirty(base, k+3)
		inc := incs() + 1
		e0, m0 := total()
		c0 := r.bank.Stats().Committed
		b.StartTimer()
		t0 := time.Now()
		st, err := pg.Checkpoint(ctx)
		tPager += time.Since(t0)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if st.Pages != 8 {
			b.Fatalf("checkpoint saved %d pages, want 8", st.Pages)
		}
		pages += int64(st.Pages)
		settled(inc)
		e1, m1 := total()
		envs, msgs, txs = envs+e1-e0, msgs+m1-m0, txs+int64(r.bank.Stats().Committed-c0)
		t0 = time.Now()
		if _, err := rvm.Checkpoint(ctx, baseStore, base...); err != nil {
			b.Fatal(err)
		}
		tBase += time.Since(t0)
		b.StartTimer()
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(pages)/n, "pages/ckpt")
	b.ReportMetric(float64(envs)/n, "msgs/ckpt")
	b.ReportMetric(float64(msgs)/n, "ru-msgs/ckpt")
	b.ReportMetric(float64(txs)/n, "stm-tx/ckpt")
	b.ReportMetric(float64(tBase.Nanoseconds())/n, "rvm-ns/ckpt")
	b.ReportMetric(float64(tPager)/float64(tBase), "x-rvm")
}
