package main

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/examples/primes/sieve"
	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/task"
	"github.com/ftm-in-go/ftm/task/tasktest"
)

// cpuTime is the CPU time this process used so far (every goroutine:
// the background commits too).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sieveRun is what one run of the sieve took.
type sieveRun struct {
	wall, cpu time.Duration
	st        task.Stats
}

// runSieve runs the sieve for n primes once as task cfg, and waits for
// the process's other work (a driver's last messages) to settle.
func runSieve(b *testing.B, cfg task.Config, n int) sieveRun {
	c0, start := cpuTime(), time.Now()
	var nth uint32
	st, err := task.Run(context.Background(), cfg, func(ctx context.Context, tk *task.Task) error {
		var err error
		nth, err = sieve.Compute(ctx, tk, n, true)
		return err
	})
	if err != nil || nth == 0 {
		b.Fatalf("sieve: %v (prime %d)", err, nth)
	}
	return sieveRun{wall: time.Since(start), cpu: cpuTime() - c0, st: st}
}

// BenchmarkSieveRecoveryUnits: the sieve (the paper's algorithm, trial
// division by the primes found so far; 400,000 primes as in §6.2, and
// 2,000,000, a run of several seconds) as a stable task whose
// checkpoints are atomic actions of its four recovery units (the task's
// RU and its data, progress and heap segments, through the pager),
// against the same program without fault tolerance and the same program
// checkpointing into STM directly (the path before recovery units),
// alternated in the same run. The bank's backup is in this process
// (stmtest.Mirrored). Reported: x-noft (RU path / no fault tolerance,
// median of the pairs, with its min and max), x-stm (STM path / no fault
// tolerance), the same ratios of the process's CPU time (cpu-x-noft,
// cpu-x-stm: the background commits included, other processes' load
// excluded), the RU path's checkpoints and the time it was stopped per
// run and per checkpoint (the STM path's too), and the median and 90th
// percentile of its stops (µs-stop-median, µs-stop-p90: each stop
// counted, within 19 %) and the median of the part of a stop spent waiting
// for the commit before it (µs-wait-median).
func BenchmarkSieveRecoveryUnits(b *testing.B) {
	for _, n := range []int{400_000, 2_000_000} {
		for _, pol := range []struct {
			name   string
			policy task.Policy
		}{{"pow2", task.Policy{PowerOfTwo: true}}, {"percent1", task.Policy{Percent: 1}}} {
			b.Run(fmt.Sprintf("n=%d/%s", n, pol.name), func(b *testing.B) { benchSieveRU(b, n, pol.policy) })
		}
	}
}

func benchSieveRU(b *testing.B, n int, policy task.Policy) {
	u := tasktest.NewUnits(b)
	var ruX, stmX, ruCPU, stmCPU []float64
	var ckpts, stopped, stoppedSTM float64
	var stops, stopsSTM, waits task.StopHistogram
	for i := 0; b.Loop(); i++ {
		base := runSieve(b, task.Config{Name: "noft"}, n)
		unit := &task.UnitConfig{Name: fmt.Sprintf("b/sieve%d", i), Bank: "b", STM: u.Bank, Units: u}
		ru := runSieve(b, task.Config{Name: "ru", Policy: policy, Unit: unit}, n)
		direct := runSieve(b, task.Config{Name: "stm", Policy: policy,
			Store: prefixed{BatchStore: rvm.NewSTMStore(u.Bank), prefix: fmt.Sprintf("s%d/", i)}}, n)
		ruX, stmX = append(ruX, ratio(ru.wall, base.wall)), append(stmX, ratio(direct.wall, base.wall))
		ruCPU, stmCPU = append(ruCPU, ratio(ru.cpu, base.cpu)), append(stmCPU, ratio(direct.cpu, base.cpu))
		ckpts += float64(ru.st.Checkpoints)
		stopped += float64(ru.st.TimeStopped.Microseconds())
		stoppedSTM += float64(direct.st.TimeStopped.Microseconds())
		addStops(&stops, ru.st.Stops)
		addStops(&stopsSTM, direct.st.Stops)
		addStops(&waits, ru.st.Waits)
	}
	runs := float64(len(ruX))
	b.ReportMetric(median(ruX), "x-noft")
	b.ReportMetric(slices.Min(ruX), "x-noft-min")
	b.ReportMetric(slices.Max(ruX), "x-noft-max")
	b.ReportMetric(median(stmX), "x-stm")
	b.ReportMetric(median(ruCPU), "cpu-x-noft")
	b.ReportMetric(median(stmCPU), "cpu-x-stm")
	b.ReportMetric(ckpts/runs, "ckpts/run")
	b.ReportMetric(stopped/runs, "µs-stopped/run")
	b.ReportMetric(stopped/max(ckpts, 1), "µs-stopped/ckpt")
	b.ReportMetric(stoppedSTM/runs, "µs-stopped-stm/run")
	b.ReportMetric(float64(stops.Quantile(0.5))/1e3, "µs-stop-median")
	b.ReportMetric(float64(stops.Quantile(0.9))/1e3, "µs-stop-p90")
	b.ReportMetric(float64(stopsSTM.Quantile(0.5))/1e3, "µs-stop-median-stm")
	b.ReportMetric(float64(waits.Quantile(0.5))/1e3, "µs-wait-median")
}

// addStops adds the stops counted in o to h.
func addStops(h *task.StopHistogram, o task.StopHistogram) {
	for i := range h {
		h[i] += o[i]
	}
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// prefixed keeps each run's segments apart in the bank (as the task
// server's prefix store does).
type prefixed struct {
	rvm.BatchStore
	prefix string
}

func (p prefixed) SaveBatch(ctx context.Context, batch []rvm.SegmentPages) error {
	out := make([]rvm.SegmentPages, len(batch))
	for i, sp := range batch {
		sp.Segment = p.prefix + sp.Segment
		out[i] = sp
	}
	return p.BatchStore.SaveBatch(ctx, out)
}

func (p prefixed) LoadPages(ctx context.Context, seg string) (map[int][]byte, error) {
	return p.BatchStore.LoadPages(ctx, p.prefix+seg)
}
