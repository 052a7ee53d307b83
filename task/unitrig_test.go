package task

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// unitRig is one kernel node and one mirrored STM bank "b" with two
// drivers: "a" runs the task's units (its Units), "p" a plain reliable
// server the task calls ("counter"). What a crash of the processes leaves
// is the bank (stopAll).
type unitRig struct {
	t      testing.TB
	ctx    context.Context
	log    *zap.Logger
	node   *kernel.Node
	bank   *stm.Bank
	backup *stm.Backup
	fail   failpoint.Hook // the drivers' failpoints
	gen    int

	mu    sync.Mutex
	hosts map[string]*rigHost
}

type rigHost struct {
	task   *kernel.Task
	names  *names.Kernel
	driver *servers.Driver
	stops  []func()
}

const rigBank = "b"

func newUnitRig(t testing.TB) *unitRig {
	ctx, cancel := context.WithCancel(context.Background())
	r := &unitRig{t: t, ctx: ctx, node: kernel.NewNode(kernel.Config{Name: "n1"}), hosts: map[string]*rigHost{}, log: zap.NewNop()}
	if tt, ok := t.(*testing.T); ok {
		r.log = zaptest.NewLogger(tt, zaptest.Level(zap.WarnLevel))
	}
	r.bank = stm.NewBank(stm.Config{Logger: r.log})
	r.backup = stmtest.Protect(t, r.bank)
	t.Cleanup(func() {
		r.stopAll()
		cancel()
		r.node.Shutdown()
	})
	return r
}

// Driver is the rig's task.Units: host "a" runs the task's units.
func (r *unitRig) Driver(bank string) *servers.Driver {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.hosts["a"]; h != nil && bank == rigBank {
		return h.driver
	}
	return nil
}

func (r *unitRig) host(name string) *rigHost {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.hosts[name]; h != nil {
		return h
	}
	kt, err := r.node.NewTask(fmt.Sprintf("%s-%d", name, r.gen))
	if err != nil {
		r.t.Fatal(err)
	}
	h := &rigHost{task: kt, names: names.NewKernel(kt, r.log)}
	h.driver, err = servers.NewDriver(servers.DriverConfig{Host: name, Task: kt, Bank: r.bank, Names: h.names,
		TickPeriod: 2 * time.Millisecond, Logger: r.log, Fail: r.fail})
	if err != nil {
		r.t.Fatal(err)
	}
	h.driver.Start()
	r.hosts[name] = h
	return h
}

// stopHost drops one host's driver, servers and kernel task.
func (r *unitRig) stopHost(name string) {
	r.mu.Lock()
	h := r.hosts[name]
	delete(r.hosts, name)
	r.gen++
	r.mu.Unlock()
	if h == nil {
		return
	}
	for _, stop := range h.stops {
		stop()
	}
	h.driver.Close()
	h.task.Terminate()
}

// stopAll drops every host.
func (r *unitRig) stopAll() {
	r.stopHost("a")
	r.stopHost("p")
}

// takeover promotes the backup bank (the primary machine died) and
// protects it again; the rig must be stopped.
func (r *unitRig) takeover() {
	b, _, err := r.backup.Takeover(r.ctx, stm.Config{Logger: r.log})
	if err != nil {
		r.t.Fatal(err)
	}
	_ = r.bank.Close()
	r.bank = b
	r.backup = stmtest.Protect(r.t, b)
}

var (
	counterAdd = servers.NewMethod[int64, int64]("add", servers.Update).At("counter")
	counterSet = servers.NewMethod[int64, int64]("set", servers.Update).At("counter")
	counterGet = servers.NewMethod[struct{}, int64]("get", servers.Read).At("counter")
)

// serveCounter runs the reliable server "counter" on host "p" and waits
// until its unit runs.
func (r *unitRig) serveCounter() {
	r.startCounter()
	h := r.host("p")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, u := range h.driver.Inspect().Units {
			if u.Unit == "counter" && u.Up {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	r.t.Fatalf("counter never ran (gen %d): %+v", r.gen, h.driver.Inspect().Units)
}

// startCounter runs the reliable server "counter" on host "p" (its unit
// may wait for the decision of an action the task initiated).
func (r *unitRig) startCounter() {
	h := r.host("p")
	srv, err := servers.NewServer(servers.Config{Name: "counter", Driver: h.driver, Logger: r.log}, func() int64 { return 0 })
	if err != nil {
		r.t.Fatal(err)
	}
	servers.Handle(srv, counterAdd, func(_ *servers.Call, s *int64, v int64) (int64, error) { *s += v; return *s, nil })
	servers.Handle(srv, counterSet, func(_ *servers.Call, s *int64, v int64) (int64, error) { *s = v; return v, nil })
	servers.Handle(srv, counterGet, func(_ *servers.Call, s *int64, _ struct{}) (int64, error) { return *s, nil })
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	h.stops = append(h.stops, func() { cancel(); <-done })
}

// counterValue reads the counter's committed value through an external
// client of host "p" (a Read: nothing to commit).
func (r *unitRig) counterValue() int64 {
	h := r.host("p")
	c, err := servers.NewClient(servers.ClientConfig{Name: "reader", Task: h.task, Names: h.names, Logger: r.log})
	if err != nil {
		r.t.Fatal(err)
	}
	defer c.Close()
	v, err := counterGet.Call(r.ctx, c, struct{}{})
	if err != nil {
		r.t.Fatal(err)
	}
	return v
}

// config is a recovery-unit task of the rig's bank.
func (r *unitRig) config(name string) Config {
	return Config{Name: name, Logger: r.log, Unit: &UnitConfig{Name: rigBank + "/" + name, Bank: rigBank, STM: r.bank, Units: r}}
}

// units lists the recovery units host "a" runs.
func (r *unitRig) units() []string {
	var out []string
	if d := r.Driver(rigBank); d != nil {
		for _, u := range d.Inspect().Units {
			out = append(out, u.Unit)
		}
	}
	return out
}
