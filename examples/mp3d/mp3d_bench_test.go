package main

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/examples/mp3d/sim"
	"github.com/ftm-in-go/ftm/task"
	"github.com/ftm-in-go/ftm/task/tasktest"
)

// cpuTime is the CPU time this process used so far (every goroutine: the
// background commits and the backup bank too).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// simRun is what one run of the simulation took.
type simRun struct {
	wall, cpu time.Duration
	st        task.Stats
	r         sim.Result
}

func runSim(b *testing.B, cfg task.Config, job sim.Job) simRun {
	c0, start := cpuTime(), time.Now()
	var r sim.Result
	st, err := task.Run(context.Background(), cfg, func(ctx context.Context, t *task.Task) error {
		var err error
		r, err = sim.Compute(ctx, t, job)
		return err
	})
	if err != nil {
		b.Fatalf("mp3d: %v", err)
	}
	return simRun{wall: time.Since(start), cpu: cpuTime() - c0, st: st, r: r}
}

// BenchmarkMp3d: the paper's §6.3 runs — 10,000 and 30,000 molecules for
// 300 time steps, checkpointed 5 and 100 times per run — as a stable task
// whose checkpoint is one atomic action of its recovery units (the task's
// RU and its molecules, cells, state and heap segments through the
// pager), against the same program without fault tolerance, alternated
// in the same run. The bank's backup is in this process
// (stmtest.Mirrored). Each run's result is checked bit-identical to the
// baseline's. Reported: x-noft (wall time with fault tolerance / without,
// median of the pairs, and its min and max), cpu-x-noft (the same of the
// process's CPU time, background commits included), checkpoints and
// time stopped per run, KiB saved per checkpoint.
func BenchmarkMp3d(b *testing.B) {
	for _, molecules := range []int64{10000, 30000} {
		for _, ckpts := range []int{5, 100} {
			b.Run(fmt.Sprintf("molecules=%d/checkpoints=%d", molecules, ckpts), func(b *testing.B) {
				benchMp3d(b, sim.Job{Molecules: molecules, Steps: 300, Seed: 1}, ckpts)
			})
		}
	}
}

func benchMp3d(b *testing.B, job sim.Job, ckpts int) {
	pol, err := policy(ckpts)
	if err != nil {
		b.Fatal(err)
	}
	u := tasktest.NewUnits(b)
	var wallX, cpuX []float64
	var taken, stopped, kib float64
	for i := 0; b.Loop(); i++ {
		base := runSim(b, task.Config{Name: "noft"}, job)
		unit := &task.UnitConfig{Name: fmt.Sprintf("b/mp3d%d", i), Bank: "b", STM: u.Bank, Units: u}
		ft := runSim(b, task.Config{Name: "ru", Policy: pol, Unit: unit}, job)
		if ft.r != base.r {
			b.Fatalf("with fault tolerance %v, without %v", ft.r, base.r)
		}
		wallX = append(wallX, float64(ft.wall)/float64(base.wall))
		cpuX = append(cpuX, float64(ft.cpu)/float64(base.cpu))
		taken += float64(ft.st.Checkpoints)
		stopped += float64(ft.st.TimeStopped.Milliseconds())
		kib += float64(ft.st.BytesSaved>>10) / float64(max(ft.st.Checkpoints, 1))
	}
	runs := float64(len(wallX))
	slices.Sort(wallX)
	b.ReportMetric(wallX[len(wallX)/2], "x-noft")
	b.ReportMetric(wallX[0], "x-noft-min")
	b.ReportMetric(wallX[len(wallX)-1], "x-noft-max")
	slices.Sort(cpuX)
	b.ReportMetric(cpuX[len(cpuX)/2], "cpu-x-noft")
	b.ReportMetric(taken/runs, "ckpts/run")
	b.ReportMetric(stopped/runs, "ms-stopped/run")
	b.ReportMetric(kib/runs, "KiB/ckpt")
}
