package servers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"go.uber.org/zap/zaptest/observer"
	"sync"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// counters is the state of the test server: named counters and a log of
// applied request tags (to check exactly-once).
type counters struct {
	N     map[string]int
	Log   []string
	Trace []string // tag<caller RU, for failure reports
}

type addReq struct {
	Key string
	By  int
	Tag string
}

// The test server's methods, and their stubs bound to a server by name.
var (
	addM = NewMethod[addReq, int]("add", Update, errEmptyKey)
	getM = NewMethod[string, int]("get", Read)
	fwdM = NewMethod[fwdReq, int]("fwd", Read, errEmptyKey)

	mAdd, mGet, mFwd = addM.At, getM.At, fwdM.At
)

// errEmptyKey is the declared error of add (and of fwd, which passes it on).
var errEmptyKey = errors.New("counters: empty key")

// fwdReq makes the server call another server (a nested call).
type fwdReq struct {
	To  string
	Add addReq
	Get bool
}

func newCounters() counters { return counters{N: map[string]int{}} }

func newCounterServer(cfg Config) *Server[counters] {
	srv := mustServer(NewServer(cfg, newCounters))
	Handle(srv, addM, func(c *Call, s *counters, r addReq) (int, error) {
		if r.Key == "" {
			return 0, fmt.Errorf("%w (by %d)", errEmptyKey, r.By)
		}
		s.N[r.Key] += r.By
		if r.Tag != "" {
			s.Log = append(s.Log, r.Tag)
			s.Trace = append(s.Trace, r.Tag+"<"+c.Caller.String())
		}
		return s.N[r.Key], nil
	})
	Handle(srv, getM, func(c *Call, s *counters, key string) (int, error) {
		return s.N[key], nil
	})
	Handle(srv, fwdM, func(c *Call, s *counters, r fwdReq) (int, error) {
		if r.Get {
			return mGet(r.To).Call(c.Context(), c.Client(), r.Add.Key)
		}
		return mAdd(r.To).Call(c.Context(), c.Client(), r.Add)
	})
	return srv
}

// mustServer returns srv, or panics on a server the test rig should never
// refuse.
func mustServer[S any](srv *Server[S], err error) *Server[S] {
	if err != nil {
		panic(err)
	}
	return srv
}

// world is one kernel node with one STM bank (mirrored to a local backup)
// and one driver per "host"; every host has its own task and name service.
type world struct {
	t     testing.TB
	ctx   context.Context
	node  *kernel.Node
	bank  *stm.Bank
	log   *zap.Logger
	hosts map[string]*hostRig
	fail  failpoint.Hook
	tick  time.Duration // driver tick period (default 2 ms)
	inmem *InmemNetwork // protocol envelopes in memory (nil: kernel ports)
	unit  ru.Config     // every driver's protocol tuning
	logs  *observer.ObservedLogs
	kind  serverKind // the counter servers' state: whole (default) or by object
}

type hostRig struct {
	task   *kernel.Task
	names  *names.Kernel
	driver *Driver
	cancel map[string]context.CancelFunc
	done   map[string]chan error
}

func newWorld(t testing.TB) *world {
	ctx, cancel := context.WithCancel(context.Background())
	w := &world{t: t, ctx: ctx, node: kernel.NewNode(kernel.Config{Name: "n1"}), hosts: map[string]*hostRig{}}
	if tt, ok := t.(*testing.T); ok {
		w.log = zaptest.NewLogger(tt, zaptest.Level(zap.WarnLevel))
	} else {
		w.log = zap.NewNop()
	}
	w.bank = stm.NewBank(stm.Config{Logger: w.log})
	stmtest.Protect(t, w.bank)
	t.Cleanup(func() {
		for _, h := range w.hosts {
			w.stopHost(h)
		}
		cancel()
		w.node.Shutdown()
	})
	return w
}

func (w *world) host(name string) *hostRig {
	if h := w.hosts[name]; h != nil {
		return h
	}
	task, err := w.node.NewTask(name)
	if err != nil {
		w.t.Fatal(err)
	}
	h := &hostRig{task: task, names: names.NewKernel(task, w.log), cancel: map[string]context.CancelFunc{},
		done: map[string]chan error{}}
	h.driver = w.newDriver(name, h)
	w.hosts[name] = h
	return h
}

func (w *world) newDriver(name string, h *hostRig) *Driver {
	d, err := NewDriver(DriverConfig{Host: name, Task: h.task, Bank: w.bank, Names: h.names,
		TickPeriod: cmp.Or(w.tick, 2*time.Millisecond), Logger: w.log, Fail: w.fail, Transport: w.transport(name),
		Unit: w.unit})
	if err != nil {
		w.t.Fatal(err)
	}
	d.Start()
	return d
}

// transport returns the protocol transport of host name's driver: nil
// (kernel ports) unless the world runs over an in-memory network.
func (w *world) transport(name string) Transport {
	if w.inmem == nil {
		return nil
	}
	return w.inmem.Transport(name)
}

// crashWhen adapts a predicate to a failpoint hook: true crashes the unit.
func crashWhen(f func(point, unit string) bool) failpoint.Hook {
	if f == nil {
		return nil
	}
	return func(point, unit string) error {
		if f(point, unit) {
			return failpoint.ErrCrash
		}
		return nil
	}
}

// serve runs a counter server on host h.
func (w *world) serve(hostName, name string) {
	h := w.host(hostName)
	srv := w.serverKind().build(Config{Name: name, Driver: h.driver, Logger: w.log})
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	h.cancel[name], h.done[name] = cancel, done
	go func() { done <- srv.Run(ctx) }()
	w.waitBound(h, name)
}

// waitBound waits until the server's name resolves and its unit runs.
func (w *world) waitBound(h *hostRig, name string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		h.names.Forget(name, kernel.NameNull)
		if _, err := h.names.Resolve(w.ctx, name); err == nil {
			h.driver.mu.Lock()
			up := h.driver.host.Unit(name) != nil
			h.driver.mu.Unlock()
			if up {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	w.t.Fatalf("server %s never bound", name)
}

func (w *world) stopServer(hostName, name string) {
	h := w.hosts[hostName]
	h.cancel[name]()
	if err := <-h.done[name]; err != nil {
		w.t.Errorf("server %s: %v", name, err)
	}
	delete(h.cancel, name)
	delete(h.done, name)
}

func (w *world) stopHost(h *hostRig) {
	for name, cancel := range h.cancel {
		cancel()
		<-h.done[name]
	}
	h.cancel, h.done = map[string]context.CancelFunc{}, map[string]chan error{}
	h.driver.Close()
}

// crashHost drops everything in memory of a host (driver, servers, their
// S) and starts a new driver over the same bank; servers are run again by
// the caller.
func (w *world) crashHost(name string) *hostRig {
	h := w.hosts[name]
	w.stopHost(h)
	h.task.Terminate()
	delete(w.hosts, name)
	return w.host(name)
}

func (w *world) client(hostName, name string) *Client {
	h := w.host(hostName)
	c, err := NewClient(ClientConfig{Name: name, Driver: h.driver, Logger: w.log, Timeout: time.Second})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(c.Close)
	return c
}

func (w *world) external(hostName, name string) *Client {
	h := w.host(hostName)
	c, err := NewClient(ClientConfig{Name: name, Task: h.task, Names: h.names, Logger: w.log, Timeout: time.Second})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(c.Close)
	return c
}

// committed reads a server's committed state from the bank.
func (w *world) committed(name string) counters {
	return w.serverKind().committed(w.t, w.bank, name)
}

func (w *world) serverKind() serverKind {
	if w.kind.build == nil {
		return wholeKind
	}
	return w.kind
}

// unitState returns a unit's saved protocol state.
func (w *world) unitState(name string) *ru.State {
	tx := w.bank.Begin()
	defer tx.Abort()
	b, err := tx.Bytes(stableID(tx, recordName(name)))
	if err != nil {
		w.t.Fatal(err)
	}
	rec, err := stm.Decode[unitRecord](b)
	if err != nil {
		w.t.Fatal(err)
	}
	return rec.State
}

func (w *world) liveID(hostName, unit string) ru.ID {
	d := w.hosts[hostName].driver
	d.mu.Lock()
	defer d.mu.Unlock()
	if u := d.host.Unit(unit); u != nil {
		return u.ID()
	}
	return ru.ID{}
}

func (w *world) liveState(hostName, unit string) *ru.State {
	d := w.hosts[hostName].driver
	d.mu.Lock()
	defer d.mu.Unlock()
	if u := d.host.Unit(unit); u != nil {
		return u.State().Clone()
	}
	return nil
}

var _ = fmt.Sprint
var _ sync.Mutex

const (
	waitFor = 10 * time.Second
	tick    = time.Millisecond
)
