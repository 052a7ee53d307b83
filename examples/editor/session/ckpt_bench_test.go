package session

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/devices/devtest"
	"github.com/ftm-in-go/ftm/devices/screen"
	"github.com/ftm-in-go/ftm/internal/proctest"
	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// ckptStepper runs one editor-shaped task: each step dirties 8 pages of
// its three segments (6 of the text, 1 of the journal, 1 of the heap),
// draws one row on its screen and checkpoints; it reports the
// checkpoint's duration.
type ckptStepper struct {
	steps chan struct{}
	took  chan time.Duration
	errc  chan error
	stats task.Stats
}

func newStepper() *ckptStepper {
	return &ckptStepper{steps: make(chan struct{}), took: make(chan time.Duration), errc: make(chan error, 1)}
}

// ckptPlan is how a stepper draws and checkpoints: through the RU path
// (draw by a call of the task's RU, checkpoint of the atomic action) or
// the direct STM path (draw on the device, checkpoint of the segments,
// then of the screen's BankStore).
type ckptPlan struct {
	draw func(ctx context.Context, t *task.Task, p []byte) error
	save func(ctx context.Context, t *task.Task) error
}

func (s *ckptStepper) run(ctx context.Context, cfg task.Config, plan ckptPlan) {
	go func() {
		st, err := task.Run(ctx, cfg, func(ctx context.Context, t *task.Task) error { return s.program(ctx, t, plan) })
		s.stats = st
		s.errc <- err
	}()
}

func (s *ckptStepper) program(ctx context.Context, t *task.Task, plan ckptPlan) error {
	text, err := t.Segment(ctx, SegText, 2<<20)
	if err != nil {
		return err
	}
	jseg, err := t.Segment(ctx, SegJournal, journalSize)
	if err != nil {
		return err
	}
	prog, err := task.Object[Progress](ctx, t, progressObj)
	if err != nil {
		return err
	}
	ps := rvm.DefaultPageSize
	for i := 0; ; i++ {
		if _, ok := <-s.steps; !ok {
			return nil
		}
		for k := 0; k < 6; k++ { // 6 text pages, a different set each step
			text.Bytes()[((i*6+k)%(len(text.Bytes())/ps))*ps] = byte(i + 1)
		}
		jseg.Bytes()[(i%(journalSize/ps))*ps+8] = byte(i + 1)
		prog.Checkpoints++
		if err := plan.draw(ctx, t, []byte(fmt.Sprintf("\x1b[5;1Hkey %d", i))); err != nil {
			return err
		}
		start := time.Now()
		if err := plan.save(ctx, t); err != nil {
			return err
		}
		s.took <- time.Since(start)
	}
}

// BenchmarkEditorCheckpoint5RU is the editor's checkpoint as one atomic
// action of five recovery units (§6.1): the editor's RU and its three
// segments (text, journal, heap) on the editor's driver, the screen's RU
// on a driver of its own, 8 dirty pages and one screen row per
// checkpoint, the bank's backup in another process (kernel/link TCP).
// Baseline in the same run, step by step alternating: the same task, the
// same 8 pages and row through today's direct STM path (segments
// committed by rvm's STM store, then the screen's BankStore). It reports
// the checkpoint's median and p99 (target ≤ 0.5 ms and ≤ 2 ms), the
// baseline's, their ratio (x-direct), the ratio to a raw TCP round trip
// to another process (x-tcprtt, a second baseline), msgs/ckpt (transport envelopes of
// both drivers), ru-msgs/ckpt (protocol messages in them) and stm-tx/ckpt
// (transactions committed in the bank, both paths' together for the
// baseline's share: see direct-stm-tx/ckpt).
func BenchmarkEditorCheckpoint5RU(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bank, mirror := countedRemoteBank(b)
	r := devtest.Over(b, bank)
	r.Tick = time.Second // no resend timeout inside a checkpoint
	ru, direct := startRUStepper(b, r), startDirectStepper(b, ctx, bank)
	var tRU, tDirect []time.Duration
	var envs, msgs, txRU, txDirect, rtRU, rtDirect int64
	for i := 0; i < b.N+5; i++ { // the first 5 of each warm up
		e0, m0 := driverTotals(r)
		c0, t0 := bank.Stats().Committed, mirror.trips.Load()
		ru.steps <- struct{}{}
		d := <-ru.took
		e1, m1 := driverTotals(r)
		c1, t1 := bank.Stats().Committed, mirror.trips.Load()
		direct.steps <- struct{}{}
		dd := <-direct.took
		c2, t2 := bank.Stats().Committed, mirror.trips.Load()
		if i < 5 {
			continue
		}
		tRU, tDirect = append(tRU, d), append(tDirect, dd)
		envs, msgs = envs+e1-e0, msgs+m1-m0
		txRU, txDirect = txRU+int64(c1-c0), txDirect+int64(c2-c1)
		rtRU, rtDirect = rtRU+t1-t0, rtDirect+t2-t1
	}
	b.StopTimer()
	close(ru.steps)
	close(direct.steps)
	for _, s := range []*ckptStepper{ru, direct} {
		if err := <-s.errc; err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N)
	b.ReportMetric(ms(quantile(tRU, 0.5)), "ckpt-median-ms")
	b.ReportMetric(ms(quantile(tRU, 0.99)), "ckpt-p99-ms")
	b.ReportMetric(ms(quantile(tDirect, 0.5)), "direct-median-ms")
	b.ReportMetric(ms(quantile(tDirect, 0.99)), "direct-p99-ms")
	b.ReportMetric(float64(quantile(tRU, 0.5))/float64(quantile(tDirect, 0.5)), "x-direct")
	rtt := tcpRTT(b, 200)
	b.ReportMetric(float64(rtt)/float64(time.Microsecond), "tcprtt-us")
	b.ReportMetric(float64(quantile(tRU, 0.5))/float64(rtt), "x-tcprtt")
	b.ReportMetric(float64(envs)/n, "msgs/ckpt")
	b.ReportMetric(float64(msgs)/n, "ru-msgs/ckpt")
	b.ReportMetric(float64(txRU)/n, "stm-tx/ckpt")
	b.ReportMetric(float64(txDirect)/n, "direct-stm-tx/ckpt")
	b.ReportMetric(float64(rtRU)/n, "backup-rt/ckpt")
	b.ReportMetric(float64(rtDirect)/n, "direct-backup-rt/ckpt")
	b.ReportMetric(float64(ru.stats.PagesSaved)/float64(ru.stats.Checkpoints), "pages/ckpt")
	b.ReportMetric(0, "ns/op")
}

// startRUStepper runs the editor-shaped task as a recovery unit on host
// "n" of r, drawing on a reliable screen on host "s".
func startRUStepper(b *testing.B, r *devtest.Rig) *ckptStepper {
	dev, err := screen.NewServer(r.Ctx, screen.ServerConfig{Width: 80, Height: 24})
	if err != nil {
		b.Fatal(err)
	}
	rel, err := screen.NewReliable(screen.ReliableConfig{Name: "scr", Screens: screen.One(dev), Driver: r.Host("s").Driver, Logger: r.Log})
	if err != nil {
		b.Fatal(err)
	}
	r.Serve("s", "scr", rel.Run)
	write := screen.Write.At("scr")
	s := newStepper()
	cfg := task.Config{Name: "editor", Logger: r.Log,
		Unit: &task.UnitConfig{Name: "editor", Bank: "b", STM: r.Bank, Units: driverUnits{r.Host("n").Driver}}}
	s.run(r.Ctx, cfg, ckptPlan{
		draw: func(ctx context.Context, t *task.Task, p []byte) error {
			_, err := write.Call(ctx, t.Client(), screen.Output{Data: p})
			return err
		},
		save: func(ctx context.Context, t *task.Task) error { return t.Checkpoint(ctx) },
	})
	return s
}

// startDirectStepper runs the same task on today's direct STM path.
func startDirectStepper(b *testing.B, ctx context.Context, bank *stm.Bank) *ckptStepper {
	dev, err := screen.NewServer(ctx, screen.ServerConfig{Width: 80, Height: 24, Store: screen.NewBankStore(bank, "direct")})
	if err != nil {
		b.Fatal(err)
	}
	s := newStepper()
	s.run(ctx, task.Config{Name: "direct", Store: rvm.NewSTMStore(bank)}, ckptPlan{
		draw: func(_ context.Context, _ *task.Task, p []byte) error { _, err := dev.Write(p); return err },
		save: func(ctx context.Context, t *task.Task) error {
			if err := t.Checkpoint(ctx); err != nil {
				return err
			}
			return dev.Checkpoint(ctx)
		},
	})
	return s
}

// tcpRTT is the median round trip of 64 bytes to a process of the same
// kind as the backup's (another process on loopback), n times.
func tcpRTT(b *testing.B, n int) time.Duration {
	line := proctest.Start(b, proctest.Spec{Role: "echo"}).Line()
	var addr string
	if _, err := fmt.Sscanf(line, "addr %s", &addr); err != nil {
		b.Fatalf("echo process said %q", line)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	var ds []time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	return quantile(ds, 0.5)
}

func driverTotals(r *devtest.Rig) (envs, msgs int64) {
	for _, h := range []string{"n", "s"} {
		e, m := r.Host(h).Driver.Stats()
		envs, msgs = envs+e, msgs+m
	}
	return envs, msgs
}
