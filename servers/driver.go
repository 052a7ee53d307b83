package servers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/clock"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/ftm-in-go/ftm/stm"
	"go.uber.org/zap"
)

// Failpoints of the driver (DriverConfig.Fail), besides ru's
// ru.FPBeforePersist and ru.FPAfterPersist, which the driver hits too while
// it executes a Ready. A hook returning an error crashes the unit there:
// its volatile state (the server's in-memory S) is dropped and it restarts
// at once from the bank, as a restarted process would.
const (
	FPAfterPrecommit = "servers.after-precommit" // S precommitted into the group, unit state not saved
	FPBeforeDecide   = "servers.before-decide"   // the unit's decision saved, the STM group not decided
	FPAfterDecide    = "servers.after-decide"    // the STM group decided
)

// DriverConfig configures a Driver.
type DriverConfig struct {
	Host       string        // unique name of this driver (one per node or per server)
	Task       *kernel.Task  // the task of the default transport's port, and of servers and clients
	Bank       *stm.Bank     // unit states and server states live here
	Names      names.Service // resolves protocol ports and servers
	Clock      clock.Clock   // ticks (default clock.Real)
	TickPeriod time.Duration // protocol tick (default 10 ms): resends after ru.Config.ResendTicks ticks
	Unbatched  bool          // one envelope per protocol message (§6.5 baseline)
	// Transport carries protocol envelopes (default: a KernelTransport
	// over Task and Names). The driver closes it.
	Transport Transport
	Unit      ru.Config      // protocol tuning
	Fail      failpoint.Hook // tests only
	Logger    *zap.Logger
	Context   context.Context // bounds STM calls made by the driver (default Background)
}

// Driver runs an ru.Host for the recovery units of one node (or one
// server): the runner over the host's Ready/Advance loop. Envelopes come
// and go through its Transport, ticks from the injected clock; each step
// (a delivered envelope, a tick, a call hook) ends with the executor
// (ready.go) carrying out the host's Ready against the record store
// (records.go): unit records in short STM transactions, each server's S
// precommitted into, or committed with, its checkpoint's STM group.
//
// Concurrency: mu guards the host, its units, every unitInfo and the
// record store's saved records; it is never held while sending or waiting.
type Driver struct {
	cfg  DriverConfig
	log  *zap.Logger
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	net Transport // protocol envelopes

	mu      sync.Mutex
	host    *ru.Host
	units   map[string]*unitInfo
	hostOf  map[string]string // unit → host key, learned from traffic
	changed chan struct{}     // closed and replaced after every step
	nextID  uint64            // call ids given to ru.Admit
	closed  bool
	records *recordStore // unit records, server states, decided groups

	envs atomic.Int64 // envelopes sent
	msgs atomic.Int64 // protocol messages inside them
	// waits counts admissions answered Wait (deferred, or waiting for authorization).
	waits atomic.Int64
}

// unitInfo is the driver's view of one local unit.
type unitInfo struct {
	name   string
	srv    stateOwner // nil for a client (application) unit
	reload bool       // S must be reloaded when the current call ends
	// orphan is the action whose group S was precommitted into by a Ready
	// whose record is not durable yet (zero: none). If the unit crashes
	// before it is, its restart aborts that group unless the record it
	// restarts from names it (a two-phase precommit follows a Running
	// record, which names no action to abort).
	orphan ru.Action
	pinned uint64 // a restarted unit's stand-in for the call still running (0: none)
	hook   func() // run after that reload
}

// stateOwner is what the driver needs of a Server[S].
type stateOwner interface {
	writePrecommit(tx *stm.Tx) error       // write S (and its precommit writes) into a tx to precommit
	commitState(tx *stm.Tx) error          // write S into tx, which commits the RU's record
	reloadState(ctx context.Context) error // S := last committed version (or init)
	crashed()                              // S in memory is lost: reload it whole
	inCall() bool
	afterCheckpoint()
	restarted()
}

// ErrClosed is returned by calls on a closed driver or server.
var ErrClosed = errors.New("servers: closed")

// ErrAborted is returned when the caller's recovery unit aborted during a
// call or a checkpoint.
var ErrAborted = errors.New("servers: recovery unit aborted")

// NewDriver creates the protocol port and registers it; Start runs it.
func NewDriver(cfg DriverConfig) (*Driver, error) {
	if cfg.Host == "" || cfg.Task == nil || cfg.Bank == nil || cfg.Names == nil {
		return nil, fmt.Errorf("servers: driver needs Host, Task, Bank and Names")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.TickPeriod <= 0 {
		cfg.TickPeriod = 10 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Context == nil {
		cfg.Context = context.Background()
	}
	log := cfg.Logger.With(zap.String("host", cfg.Host))
	if cfg.Transport == nil {
		t, err := NewKernelTransport(cfg.Task, cfg.Names, cfg.Host, log)
		if err != nil {
			return nil, err
		}
		cfg.Transport = t
	}
	d := &Driver{cfg: cfg, log: log, net: cfg.Transport,
		units: map[string]*unitInfo{}, hostOf: map[string]string{}, changed: make(chan struct{}),
		records: newRecordStore(cfg.Bank)}
	d.ctx, d.stop = context.WithCancel(cfg.Context)
	d.host = ru.NewHost(ru.HostConfig{Name: d.hostKey(), Unit: cfg.Unit, Store: storeLoader{d.records},
		HostOf: d.unitHost, Batch: !cfg.Unbatched, Log: d.log})
	return d, nil
}

// defaults fills a server's or client's task and name service from the
// driver's when they are not set.
func (d *Driver) defaults(task *kernel.Task, ns names.Service) (*kernel.Task, names.Service) {
	if task == nil {
		task = d.cfg.Task
	}
	if ns == nil {
		ns = d.cfg.Names
	}
	return task, ns
}

// hostKey is the protocol address of this driver.
func (d *Driver) hostKey() string { return d.net.Addr() }

// unitHost is HostConfig.HostOf: the host key of a unit, or the unit's own
// key when its host is not known yet (it registers that key too). mu held.
func (d *Driver) unitHost(unit string) string {
	if _, ok := d.units[unit]; ok {
		return d.hostKey()
	}
	if h, ok := d.hostOf[unit]; ok {
		return h
	}
	return UnitAddr(unit)
}

// learn records that unit lives on host key h. mu held.
func (d *Driver) learn(unit, h string) {
	if unit != "" && h != "" && d.units[unit] == nil {
		d.hostOf[unit] = h
	}
}

// Start runs the receive and tick loops until Close or ctx ends.
func (d *Driver) Start() {
	d.wg.Add(2)
	go d.receiveLoop()
	go d.tickLoop()
}

// Close stops the loops and destroys the protocol port. Units keep their
// saved state in the bank: a new driver restarts them from there.
func (d *Driver) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	d.mu.Unlock()
	d.stop()
	_ = d.net.Close()
	d.wg.Wait()
	d.mu.Lock()
	d.broadcastLocked()
	d.mu.Unlock()
}

// Stats reports the envelopes and protocol messages this driver sent.
func (d *Driver) Stats() (envelopes, msgs int64) { return d.envs.Load(), d.msgs.Load() }

func (d *Driver) receiveLoop() {
	defer d.wg.Done()
	for {
		env, err := d.net.Receive(d.ctx)
		if err != nil {
			if d.ctx.Err() == nil {
				d.log.Debug("transport closed", zap.Error(err))
			}
			return
		}
		d.mu.Lock()
		for _, msg := range env.Msgs {
			d.learn(msg.From.Name, env.From)
		}
		d.host.Deliver(env)
		envs, _ := d.flushLocked()
		d.mu.Unlock()
		d.send(envs)
	}
}

func (d *Driver) tickLoop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.cfg.Clock.After(d.cfg.TickPeriod):
		}
		d.mu.Lock()
		d.host.Tick()
		envs, _ := d.flushLocked()
		d.mu.Unlock()
		d.send(envs)
	}
}

// broadcastLocked wakes every waiter. mu held.
func (d *Driver) broadcastLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

// attach registers a unit on this driver: restarted from its saved record
// when there is one (§4.2.4), created fresh otherwise. S (if srv is set)
// is restored by the restart path. The unit's key is registered so peers
// that do not know this host yet still reach it.
func (d *Driver) attach(name string, srv stateOwner) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	if d.units[name] != nil {
		d.mu.Unlock()
		return fmt.Errorf("servers: unit %q already runs on driver %s", name, d.cfg.Host)
	}
	if err := d.records.bind(d.ctx, name); err != nil {
		d.mu.Unlock()
		return err
	}
	ui := &unitInfo{name: name, srv: srv}
	d.units[name] = ui
	delete(d.hostOf, name)
	if err := d.restartLocked(ui); err != nil { // a unit never saved starts afresh
		delete(d.units, name)
		d.mu.Unlock()
		return err
	}
	envs, _ := d.flushLocked()
	d.mu.Unlock()
	d.send(envs)
	if err := d.net.Bind(name); err != nil {
		d.detach(name) // so that a later Run or NewClient of this name can attach again
		return err
	}
	return nil
}

// detach removes a unit from the driver (its server stopped). It takes mu.
func (d *Driver) detach(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.host.Crash(name)
	delete(d.units, name)
	d.broadcastLocked()
}

// restartLocked rebuilds a unit from its saved record (a fresh one when it
// has none): the STM groups its crash left undecided are decided as the
// record says, S is restored from its last committed version, and the
// unit's RU aborts unless it precommitted (ru.Host.Restart). mu held.
func (d *Driver) restartLocked(ui *unitInfo) error {
	rec, err := d.host.Restart(ui.name, ui.srv != nil)
	if err != nil {
		return err
	}
	d.log.Debug("restart", zap.String("unit", ui.name), zap.Bool("precommitted", rec.Precommitted),
		zap.Int("decides", len(rec.Decides)))
	for _, dc := range append(rec.Decides, d.orphanLocked(ui)...) {
		if err := d.records.decide(d.ctx, dc.Action, dc.Commit); err != nil {
			d.log.Debug("decide at restart", zap.String("unit", ui.name), zap.Error(err))
		}
	}
	d.pinCallLocked(ui)
	if ui.srv != nil {
		ui.srv.crashed()
		// A unit that was not precommitted aborts its RU on restart: the
		// Aborted outcome reloads S and runs the Restart hook. A
		// precommitted one waits for the decision with S restored now.
		var hook func()
		if rec.Precommitted {
			hook = ui.srv.restarted
		}
		d.reloadLocked(ui, hook)
	}
	return nil
}

// orphanLocked returns the abort of the group a crashed unit precommitted
// S into while the record that says so never became durable: nothing can
// decide that group but this abort (the action cannot commit without the
// unit's acknowledgment, which left only with that record). mu held.
func (d *Driver) orphanLocked(ui *unitInfo) []ru.Decide {
	a := ui.orphan
	ui.orphan = ru.Action{}
	if a.IsZero() {
		return nil
	}
	if st := d.records.lastSaved(ui.name); st != nil && st.PCInc != 0 && st.PC == a {
		return nil // the record holds it: the unit waits for, or applies, its decision
	}
	return []ru.Decide{{Action: a, Commit: false}}
}

// pinCallLocked keeps a restarted server unit from being quiescent while
// the handler of its previous incarnation still runs: S holds that call's
// effects until the call ends and S is reloaded, so no checkpoint may take
// S before then (it would commit an aborted call, which the client's retry
// then applies again). The stand-in call is ended by endCall. mu held.
func (d *Driver) pinCallLocked(ui *unitInfo) {
	ui.pinned = 0
	if ui.srv == nil || !ui.srv.inCall() {
		return
	}
	if u := d.host.Unit(ui.name); u != nil {
		d.nextID++
		if u.Admit(d.nextID) == ru.Serve {
			ui.pinned = d.nextID
		}
	}
}

// send hands envelopes to the transport. A lost envelope is dropped (the
// protocol resends after a timeout), and what routed to its destination is
// forgotten, so the next send looks the unit up again.
func (d *Driver) send(envs []ru.Envelope) {
	for _, env := range envs {
		if err := d.net.Send(d.ctx, env); err != nil {
			d.log.Debug("envelope lost", zap.String("to", env.To), zap.Error(err))
			d.forgetHost(env.To)
			continue
		}
		d.envs.Add(1)
		d.msgs.Add(int64(len(env.Msgs)))
	}
}

// forgetHost drops the routes learned to host key h.
func (d *Driver) forgetHost(h string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for u, x := range d.hostOf {
		if x == h {
			delete(d.hostOf, u)
		}
	}
}
