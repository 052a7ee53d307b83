package devtest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// Host is one driver with its kernel task and name service.
type Host struct {
	Task   *kernel.Task
	Names  *names.Kernel
	Driver *servers.Driver

	mu    sync.Mutex
	stops []func()
}

// Rig is one kernel node and one bank mirrored to a backup.
type Rig struct {
	T      testing.TB
	Ctx    context.Context
	Log    *zap.Logger
	Node   *kernel.Node
	Bank   *stm.Bank
	Backup *stm.Backup
	Tick   time.Duration // driver tick (default 2 ms)

	gen   int
	hosts map[string]*Host
}

// New returns a rig over a new bank mirrored to an in-memory backup; it
// stops everything when the test ends.
func New(t testing.TB) *Rig {
	r := Over(t, nil)
	r.Bank = stm.NewBank(stm.Config{Logger: r.Log})
	r.Backup = stmtest.Protect(t, r.Bank)
	return r
}

// Over returns a rig over bank, protected by its caller (a backup in
// another process, for a benchmark): Takeover is not available.
func Over(t testing.TB, bank *stm.Bank) *Rig {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Rig{T: t, Ctx: ctx, Node: kernel.NewNode(kernel.Config{Name: "n1"}), hosts: map[string]*Host{},
		Log: zap.NewNop(), Tick: 2 * time.Millisecond, Bank: bank}
	if tt, ok := t.(*testing.T); ok {
		r.Log = zaptest.NewLogger(tt, zaptest.Level(zap.ErrorLevel))
	}
	t.Cleanup(func() {
		r.Crash()
		cancel()
		r.Node.Shutdown()
	})
	return r
}

// Host returns the driver named name, started on first use.
func (r *Rig) Host(name string) *Host {
	if h := r.hosts[name]; h != nil {
		return h
	}
	task, err := r.Node.NewTask(fmt.Sprintf("%s-%d", name, r.gen))
	if err != nil {
		r.T.Fatal(err)
	}
	h := &Host{Task: task, Names: names.NewKernel(task, r.Log)}
	h.Driver, err = servers.NewDriver(servers.DriverConfig{Host: name, Task: task, Bank: r.Bank, Names: h.Names,
		TickPeriod: r.Tick, Logger: r.Log})
	if err != nil {
		r.T.Fatal(err)
	}
	h.Driver.Start()
	r.hosts[name] = h
	return h
}

// Serve runs a server on host until it is stopped (the returned func,
// which returns Run's error) or the rig crashes, and waits until name is
// bound.
func (r *Rig) Serve(host, name string, run func(context.Context) error) (stop func() error) {
	h := r.Host(host)
	ctx, cancel := context.WithCancel(r.Ctx)
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	h.mu.Lock()
	h.stops = append(h.stops, func() { _ = stop() })
	h.mu.Unlock()
	r.waitBound(h, name, done)
	return stop
}

func (r *Rig) waitBound(h *Host, name string, done chan error) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			r.T.Fatalf("server %s ended before it was bound: %v", name, err)
		default:
		}
		h.Names.Forget(name, kernel.NameNull)
		if _, err := h.Names.Resolve(r.Ctx, name); err == nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
	r.T.Fatalf("server %s never bound", name)
}

// Client returns an application client (a recovery unit) named name on
// host.
func (r *Rig) Client(host, name string) *servers.Client {
	h := r.Host(host)
	c, err := servers.NewClient(servers.ClientConfig{Name: name, Driver: h.Driver, Logger: r.Log, Timeout: time.Second})
	if err != nil {
		r.T.Fatal(err)
	}
	h.mu.Lock()
	h.stops = append([]func(){c.Close}, h.stops...)
	h.mu.Unlock()
	return c
}

// External returns an external client (no recovery unit) on host.
func (r *Rig) External(host, name string) *servers.Client {
	h := r.Host(host)
	c, err := servers.NewClient(servers.ClientConfig{Name: name, Task: h.Task, Names: h.Names, Logger: r.Log, Timeout: time.Second})
	if err != nil {
		r.T.Fatal(err)
	}
	return c
}

// Crash drops every driver, server, client and kernel task of the rig, as
// a crash of their processes would: what is left is the bank.
func (r *Rig) Crash() {
	for _, h := range r.hosts {
		h.mu.Lock()
		stops := h.stops
		h.mu.Unlock()
		for _, stop := range stops {
			stop()
		}
		h.Driver.Close()
		h.Task.Terminate()
	}
	r.hosts = map[string]*Host{}
	r.gen++
}

// Takeover crashes the rig, promotes the backup bank (the primary machine
// died) and mirrors it to a fresh backup.
func (r *Rig) Takeover() {
	if r.Backup == nil {
		r.T.Fatal("devtest: Takeover of a rig made by Over")
	}
	r.Crash()
	b, _, err := r.Backup.Takeover(r.Ctx, stm.Config{Logger: r.Log})
	if err != nil {
		r.T.Fatal(err)
	}
	_ = r.Bank.Close()
	r.Bank = b
	r.Backup = stmtest.Protect(r.T, r.Bank)
}
