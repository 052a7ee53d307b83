package pager

import (
	"cmp"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// host is one driver with its kernel task and name service.
type host struct {
	task   *kernel.Task
	names  *names.Kernel
	driver *servers.Driver
	stops  []func()
}

// rig is one kernel node and one STM bank mirrored to a backup; the
// segment servers run on host "p", the task's application RU on host "a".
type rig struct {
	t      testing.TB
	ctx    context.Context
	log    *zap.Logger
	node   *kernel.Node
	bank   *stm.Bank
	backup *stm.Backup
	fail   failpoint.Hook
	gen    int
	tick   time.Duration // driver tick (default 2 ms)
	hosts  map[string]*host
}

func newRig(t testing.TB) *rig {
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{t: t, ctx: ctx, node: kernel.NewNode(kernel.Config{Name: "n1"}), hosts: map[string]*host{}, log: zap.NewNop()}
	if tt, ok := t.(*testing.T); ok {
		r.log = zaptest.NewLogger(tt, zaptest.Level(zap.ErrorLevel))
	}
	r.bank = stm.NewBank(stm.Config{Logger: r.log})
	r.attachBackup()
	t.Cleanup(func() {
		r.stopAll()
		cancel()
		r.node.Shutdown()
	})
	return r
}

func (r *rig) attachBackup() {
	r.backup = stmtest.Protect(r.t, r.bank)
}

func (r *rig) host(name string) *host {
	if h := r.hosts[name]; h != nil {
		return h
	}
	task, err := r.node.NewTask(fmt.Sprintf("%s-%d", name, r.gen))
	if err != nil {
		r.t.Fatal(err)
	}
	h := &host{task: task, names: names.NewKernel(task, r.log)}
	h.driver, err = servers.NewDriver(servers.DriverConfig{Host: name, Task: task, Bank: r.bank, Names: h.names,
		TickPeriod: cmp.Or(r.tick, 2*time.Millisecond), Logger: r.log, Fail: r.fail})
	if err != nil {
		r.t.Fatal(err)
	}
	h.driver.Start()
	r.hosts[name] = h
	return h
}

// stopAll drops every driver, server and task: what a crash of the
// processes leaves is the bank.
func (r *rig) stopAll() {
	for _, h := range r.hosts {
		for _, stop := range h.stops {
			stop()
		}
		h.driver.Close()
		h.task.Terminate()
	}
	r.hosts = map[string]*host{}
	r.gen++
}

// serve runs the segment servers of task's segments on host "p".
func (r *rig) serve(task string, segs ...string) {
	h := r.host("p")
	for _, seg := range segs {
		s, err := NewServer(Config{Task: task, Segment: seg, Driver: h.driver, Logger: r.log})
		if err != nil {
			r.t.Fatal(err)
		}
		r.run(h, s.Name(), s.Run)
	}
}

// run runs a server on h until the rig stops, and waits until it is bound.
func (r *rig) run(h *host, name string, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	h.stops = append(h.stops, func() {
		cancel()
		if err := <-done; err != nil {
			r.t.Errorf("server %s: %v", name, err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		h.names.Forget(name, kernel.NameNull)
		if _, err := h.names.Resolve(r.ctx, name); err == nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
	r.t.Fatalf("server %s never bound", name)
}

// client is the task's application client (its RU) on host "a".
func (r *rig) client(name string) *servers.Client {
	h := r.host("a")
	c, err := servers.NewClient(servers.ClientConfig{Name: name, Driver: h.driver, Logger: r.log, Timeout: time.Second})
	if err != nil {
		r.t.Fatal(err)
	}
	h.stops = append([]func(){c.Close}, h.stops...)
	return c
}

// progress is a plain reliable server the application updates in the same
// RU as its segments: its committed value must always match the segments'.
func (r *rig) serveProgress() {
	h := r.host("p")
	srv, err := servers.NewServer(servers.Config{Name: "progress", Driver: h.driver, Logger: r.log}, func() int64 { return 0 })
	if err != nil {
		r.t.Fatal(err)
	}
	servers.Handle(srv, setProgress, func(_ *servers.Call, s *int64, v int64) (int64, error) { *s = v; return v, nil })
	servers.Handle(srv, getProgress, func(_ *servers.Call, s *int64, _ struct{}) (int64, error) { return *s, nil })
	r.run(h, "progress", srv.Run)
}

var (
	setProgress = servers.NewMethod[int64, int64]("set", servers.Update).At("progress")
	getProgress = servers.NewMethod[struct{}, int64]("get", servers.Read).At("progress")
)

// takeover promotes the backup bank (the primary machine died) and mirrors
// it to a fresh backup; the rig must be stopped.
func (r *rig) takeover() stm.TakeoverReport {
	b, rep, err := r.backup.Takeover(r.ctx, stm.Config{Logger: r.log})
	if err != nil {
		r.t.Fatal(err)
	}
	_ = r.bank.Close()
	r.bank = b
	r.attachBackup()
	return rep
}

func newSegs(t testing.TB, pageSize int, sizes map[string]int, order ...string) []*rvm.Segment {
	var out []*rvm.Segment
	for _, name := range order {
		s, err := rvm.NewSegment(name, sizes[name], rvm.Config{PageSize: pageSize, Method: rvm.Compare})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		out = append(out, s)
	}
	return out
}
