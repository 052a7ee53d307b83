package servers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/clock"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/ftm-in-go/ftm/stm"
	"go.uber.org/zap"
)

// Failpoints of the driver (DriverConfig.Fail), besides ru's
// "ru.before-persist" and "ru.after-persist". Returning true crashes the
// unit there: its volatile state (the server's in-memory S) is dropped and
// it restarts at once from the bank, as a restarted process would.
const (
	FPAfterPrecommit = "servers.after-precommit" // S precommitted into the group, unit state not saved
	FPBeforeDecide   = "servers.before-decide"   // the unit's decision saved, the STM group not decided
	FPAfterDecide    = "servers.after-decide"    // the STM group decided
)

// DriverConfig configures a Driver.
type DriverConfig struct {
	Host       string        // unique name of this driver (one per node or per server)
	Task       *kernel.Task  // the task owning the protocol port
	Bank       *stm.Bank     // unit states and server states live here
	Names      names.Service // resolves protocol ports and servers
	Clock      clock.Clock   // ticks (default clock.Real)
	TickPeriod time.Duration // protocol tick (default 10 ms): resends after ru.Config.ResendTicks ticks
	Unbatched  bool          // one envelope per protocol message (§6.5 baseline)
	Unit       ru.Config     // protocol tuning
	Fail       ru.Failpoint  // tests only
	Logger     *zap.Logger
	Context    context.Context // bounds STM calls made by the driver (default Background)
}

// Driver runs an ru.Host for the recovery units of one node (or one
// server) over kernel ports: protocol envelopes travel as kernel messages
// on a protocol port registered through the name service, ticks come from
// the injected clock, unit states are saved in short STM transactions and
// each server's state S is precommitted into the checkpoint's STM group.
//
// Concurrency: mu guards the host, its units and every unitInfo; it is
// never held while sending on a port or waiting.
type Driver struct {
	cfg  DriverConfig
	log  *zap.Logger
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	port kernel.Name // protocol receive right

	mu      sync.Mutex
	host    *ru.Host
	units   map[string]*unitInfo
	hostOf  map[string]string // unit → host key, learned from traffic
	changed chan struct{}     // closed and replaced after every step
	nextID  uint64            // call ids given to ru.Admit
	closed  bool

	envs    atomic.Int64 // envelopes sent
	msgs    atomic.Int64 // protocol messages inside them
	decided decidedSet   // groups this driver decided
	batch   *saveBatch   // saves of the Flush in progress (mu held)
	// waits counts admissions answered Wait (deferred, or waiting for authorization).
	waits atomic.Int64
}

// unitInfo is the driver's view of one local unit.
type unitInfo struct {
	name     string
	recID    stm.ID
	saved    []byte      // last saved record (skip identical saves)
	savedInc uint64      // incarnation in the last saved record
	group    stm.GroupID // group S was precommitted into, and for which incarnation
	gInc     uint64
	srv      stateOwner // nil for a client (application) unit
	stale    bool       // S must be reloaded at the next decision (restarted while precommitted)
	reload   bool       // S must be reloaded when the current call ends
	pinned   uint64     // a restarted unit's stand-in for the call still running (0: none)
	hook     func()     // run after that reload
	// savedCalling: servers the saved state records an outgoing call to.
	savedCalling map[string]bool
}

// stateOwner is what the driver needs of a Server[S].
type stateOwner interface {
	precommitState(ctx context.Context, g stm.GroupID) error // encode S into a tx precommitted into g
	stateBytes() (stm.ID, []byte, error)                     // S's object and its encoding, for a commit
	reloadState(ctx context.Context) error                   // S := last committed version (or init)
	inCall() bool
	afterCheckpoint()
	restarted()
}

// unitRecord is the stable object of one unit (saved in its own short transaction).
type unitRecord struct {
	State    *ru.State
	Group    uint64 // the group S was last precommitted into
	GroupInc uint64 // the incarnation that precommitted it
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
	d := &Driver{cfg: cfg, log: cfg.Logger.With(zap.String("host", cfg.Host)),
		units: map[string]*unitInfo{}, hostOf: map[string]string{}, changed: make(chan struct{})}
	d.ctx, d.stop = context.WithCancel(cfg.Context)
	d.host = ru.NewHost(ru.HostConfig{Name: d.hostKey(), Unit: cfg.Unit, Store: (*driverStore)(d),
		HostOf: d.unitHost, Batch: !cfg.Unbatched, Fail: cfg.Fail, Log: d.log})
	p, err := cfg.Task.AllocatePort()
	if err != nil {
		return nil, fmt.Errorf("servers: driver %s: %w", cfg.Host, err)
	}
	d.port = p
	if err := cfg.Names.Register(d.hostKey(), p); err != nil {
		_ = cfg.Task.Destroy(p)
		return nil, err
	}
	return d, nil
}

// hostKey is the protocol address of this driver in the name service.
func (d *Driver) hostKey() string { return "ftm.ru.host:" + d.cfg.Host }

func unitKey(unit string) string { return "ftm.ru.unit:" + unit }

// unitHost is HostConfig.HostOf: the host key of a unit, or the unit's own
// key when its host is not known yet (it registers that key too). mu held.
func (d *Driver) unitHost(unit string) string {
	if _, ok := d.units[unit]; ok {
		return d.hostKey()
	}
	if h, ok := d.hostOf[unit]; ok {
		return h
	}
	return unitKey(unit)
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
	_ = d.cfg.Task.Destroy(d.port)
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
		m, err := d.cfg.Task.Receive(d.ctx, d.port)
		if err != nil {
			if d.ctx.Err() == nil {
				d.log.Debug("protocol port closed", zap.Error(err))
			}
			return
		}
		body, id := m.Body, m.ID
		m.Free()
		if id != msgEnvelope {
			continue
		}
		env, err := decodeAny[ru.Envelope](body)
		if err != nil {
			d.log.Warn("undecodable envelope dropped", zap.Error(err))
			continue
		}
		d.mu.Lock()
		for _, msg := range env.Msgs {
			d.learn(msg.From.Name, env.From)
		}
		d.host.Deliver(env)
		envs := d.flushLocked()
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
		envs := d.flushLocked()
		d.mu.Unlock()
		d.send(envs)
	}
}

// broadcastLocked wakes every waiter. mu held.
func (d *Driver) broadcastLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

// flushLocked persists what changed, handles the events, restarts units a
// failpoint crashed and returns the envelopes to send. mu held.
func (d *Driver) flushLocked() []ru.Envelope {
	var out []ru.Envelope
	for i := 0; i < 8; i++ { // restarts and event handling can make more output
		d.batch = &saveBatch{}
		envs, evs := d.host.Flush()
		b := d.batch
		d.batch = nil
		if b != nil && len(b.puts) > 0 {
			if err := d.commitPuts(b.puts); err != nil {
				// Nothing of this step is stable: its messages and events are
				// dropped and its units restart from what the bank holds.
				d.log.Warn("save failed", zap.Error(err))
				for _, v := range b.prev {
					v.restore()
					d.host.Crash(v.ui.name)
				}
				envs, evs = nil, nil
			}
		}
		out = append(out, envs...)
		d.handleEvents(evs)
		restarted := d.restartCrashedLocked()
		if len(envs) == 0 && len(evs) == 0 && !restarted {
			break
		}
	}
	d.broadcastLocked()
	return out
}

// persistLocked saves a unit now (write-ahead in the call path).
func (d *Driver) persistLocked(name string) error {
	evs, err := d.host.Persist(name)
	if u := d.host.Unit(name); err == nil && u != nil {
		u.MarkClean() // saved as it is now: the next Flush need not save it again
	}
	d.handleEvents(evs)
	return err
}

// handleEvents applies ends of recovery units to STM and to the server state. mu held.
func (d *Driver) handleEvents(evs []ru.Event) {
	for _, ev := range evs {
		ui := d.units[ev.RU.Name]
		if ui == nil || ev.Outcome == ru.Cancelled {
			continue
		}
		d.log.Debug("ru ended", zap.Stringer("ru", ev.RU), zap.Stringer("outcome", ev.Outcome),
			zap.Stringer("action", ev.Action), zap.Uint64("gInc", ui.gInc))
		commit := ev.Outcome == ru.Committed
		if commit && ev.Action.Root == ev.RU && ui.srv == nil {
			// The initiator's commit is the decision for the whole group:
			// apply it to the members precommitted in this bank now.
			if err := d.decided.decide(d.ctx, d.cfg.Bank, groupOf(ev.Action), true); err != nil {
				d.log.Warn("decide failed", zap.String("unit", ui.name), zap.Error(err))
			}
		}
		if ui.srv == nil {
			continue
		}
		if ui.gInc == ev.RU.Inc && ui.group != 0 {
			if d.fail(FPBeforeDecide, ui.name) {
				d.host.Crash(ui.name)
				continue
			}
			if err := d.decided.decide(d.ctx, d.cfg.Bank, ui.group, commit); err != nil {
				d.log.Warn("decide failed", zap.String("unit", ui.name), zap.Error(err))
			}
			ui.group, ui.gInc = 0, 0
			if d.fail(FPAfterDecide, ui.name) {
				d.host.Crash(ui.name)
				continue
			}
		}
		switch {
		case !commit:
			d.reloadLocked(ui, ui.srv.restarted)
		case ui.stale:
			d.reloadLocked(ui, ui.srv.afterCheckpoint)
		default:
			ui.srv.afterCheckpoint()
		}
		ui.stale = false
	}
}

// reloadLocked rolls S back to its last committed version, now or when
// the call in progress ends. mu held.
func (d *Driver) reloadLocked(ui *unitInfo, hook func()) {
	d.log.Debug("reload", zap.String("unit", ui.name), zap.Bool("deferred", ui.srv.inCall()))
	if ui.srv.inCall() {
		ui.reload, ui.hook = true, hook
		return
	}
	ui.reload, ui.hook = false, nil
	if err := ui.srv.reloadState(d.ctx); err != nil {
		d.log.Warn("reload state failed", zap.String("unit", ui.name), zap.Error(err))
	}
	if hook != nil {
		hook()
	}
}

func (d *Driver) fail(point, unit string) bool {
	return d.cfg.Fail != nil && d.cfg.Fail(point, unit)
}

// restartCrashedLocked restarts units a failpoint crashed, from the bank. mu held.
func (d *Driver) restartCrashedLocked() bool {
	any := false
	for name, ui := range d.units {
		if d.host.Unit(name) != nil {
			continue
		}
		any = true
		if err := d.restartLocked(ui); err != nil {
			d.log.Warn("restart failed", zap.String("unit", name), zap.Error(err))
		}
	}
	return any
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
	recID, err := objectID(d.ctx, d.cfg.Bank, "ru:"+name)
	if err != nil {
		d.mu.Unlock()
		return err
	}
	ui := &unitInfo{name: name, recID: recID, srv: srv}
	d.units[name] = ui
	delete(d.hostOf, name)
	_, err = d.loadRecord(ui)
	switch {
	case errors.Is(err, ru.ErrNoState):
		d.host.Add(name)
		if srv != nil {
			err = srv.reloadState(d.ctx)
		} else {
			err = nil
		}
	case err == nil:
		err = d.restartLocked(ui)
	}
	if err != nil {
		delete(d.units, name)
		d.mu.Unlock()
		return err
	}
	envs := d.flushLocked()
	d.mu.Unlock()
	d.send(envs)
	if err := d.cfg.Names.Register(unitKey(name), d.port); err != nil {
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

// restartLocked rebuilds a unit from its saved record: leftover STM groups
// are decided from what the record says, S is restored from its last
// committed version, and ru.Restart aborts the RU unless it precommitted. mu held.
func (d *Driver) restartLocked(ui *unitInfo) error {
	rec, err := d.loadRecord(ui)
	if err != nil {
		return err
	}
	st := rec.State
	d.log.Debug("restart", zap.String("unit", ui.name), zap.Uint64("inc", st.Inc), zap.Stringer("phase", st.Phase),
		zap.Uint64("group", rec.Group), zap.Uint64("groupInc", rec.GroupInc))
	ui.group, ui.gInc = 0, 0
	if ui.srv != nil {
		switch {
		case rec.Group != 0 && st.Inc > rec.GroupInc: // decided, maybe not applied to STM
			_ = d.cfg.Bank.Decide(d.ctx, stm.GroupID(rec.Group), !st.Aborted[rec.GroupInc])
		case st.Phase == ru.Precommitted: // waits for the decision: S stays in the group
			ui.group, ui.gInc = groupOf(st.Act), st.Inc
		case st.Phase == ru.Building && !st.Act.IsZero():
			// S may have been precommitted before the record said so: that
			// precommit can only end in abort (this unit never acknowledged it).
			_ = d.cfg.Bank.Decide(d.ctx, groupOf(st.Act), false)
		}
		ui.stale = st.Phase == ru.Precommitted
	}
	if err := d.host.Restart(ui.name); err != nil {
		return err
	}
	d.pinCallLocked(ui)
	if ui.srv != nil {
		// A unit that was not precommitted aborts its RU on restart: the
		// Aborted event reloads S and runs the Restart hook. A precommitted
		// one waits for the decision with S restored now.
		var hook func()
		if st.Phase == ru.Precommitted {
			hook = ui.srv.restarted
		}
		d.reloadLocked(ui, hook)
	}
	return nil
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

func (d *Driver) loadRecord(ui *unitInfo) (unitRecord, error) {
	var rec unitRecord
	tx := d.cfg.Bank.Begin()
	defer tx.Abort()
	b, err := tx.Bytes(ui.recID)
	if errors.Is(err, stm.ErrNotFound) {
		return rec, ru.ErrNoState
	}
	if err != nil {
		return rec, fmt.Errorf("servers: load unit %s: %w", ui.name, err)
	}
	rec, err = decodeAny[unitRecord](b)
	if err != nil {
		return rec, fmt.Errorf("servers: load unit %s: %w", ui.name, err)
	}
	if rec.State == nil || rec.State.Name != ui.name {
		return rec, fmt.Errorf("servers: load unit %s: record names another unit", ui.name)
	}
	ui.saved, ui.savedInc = b, rec.State.Inc
	ui.noteCalling(rec.State)
	return rec, nil
}

// send delivers envelopes to their hosts' protocol ports. A failed send
// is dropped (the protocol resends after a timeout); a dead port makes the
// next send resolve the key again.
func (d *Driver) send(envs []ru.Envelope) {
	for _, env := range envs {
		body, err := stm.Encode(env)
		if err != nil {
			d.log.Warn("encode envelope", zap.Error(err))
			continue
		}
		if err := d.sendTo(env.To, body); err != nil {
			d.log.Debug("envelope lost", zap.String("to", env.To), zap.Error(err))
			d.mu.Lock()
			for u, h := range d.hostOf {
				if h == env.To {
					delete(d.hostOf, u)
				}
			}
			d.mu.Unlock()
			continue
		}
		d.envs.Add(1)
		d.msgs.Add(int64(len(env.Msgs)))
	}
}

func (d *Driver) sendTo(key string, body []byte) error {
	ctx, cancel := context.WithTimeout(d.ctx, time.Second)
	defer cancel()
	p, err := d.cfg.Names.Resolve(ctx, key)
	if err != nil {
		return err
	}
	m := kernel.NewMessage()
	m.Dest, m.ID, m.Body = p, msgEnvelope, body
	if err := d.cfg.Task.TrySend(m); err != nil {
		m.Free()
		d.cfg.Names.Forget(key, p)
		return err
	}
	return nil
}

// wait returns a channel closed at the next step of the driver. mu held.
func (d *Driver) waitCh() <-chan struct{} { return d.changed }

// driverStore is the ru.Store of a driver: one stable object per unit,
// saved in a short STM transaction of its own; a save that enters
// Precommitted first precommits the server's S into the action's group.
// Save and Load run with d.mu held (inside Host calls).
type driverStore Driver

func (s *driverStore) Save(st *ru.State) error {
	d := (*Driver)(s)
	ui := d.units[st.Name]
	if ui == nil {
		return fmt.Errorf("servers: save of unknown unit %q", st.Name)
	}
	rec := unitRecord{State: st, Group: uint64(ui.group), GroupInc: ui.gInc}
	var puts []put
	if ui.srv != nil && ui.savedInc != 0 && st.Inc > ui.savedInc && !st.Aborted[ui.savedInc] && ui.gInc != ui.savedInc {
		// The RU committed within one step (a lone initiator: nothing to
		// wait for), so S was never precommitted: S goes into the same
		// transaction as the record that says the RU committed.
		id, b, err := ui.srv.stateBytes()
		if err != nil {
			return err
		}
		puts = append(puts, put{id, b})
	}
	if st.Phase == ru.Precommitted && ui.srv != nil {
		g := groupOf(st.Act)
		if ui.gInc != st.Inc || ui.group != g {
			if err := ui.srv.precommitState(d.ctx, g); err != nil {
				return err
			}
			d.log.Debug("precommitted S", zap.String("unit", st.Name), zap.Uint64("inc", st.Inc), zap.Uint64("group", uint64(g)))
			ui.group, ui.gInc = g, st.Inc
			rec.Group, rec.GroupInc = uint64(g), st.Inc
			if d.fail(FPAfterPrecommit, st.Name) {
				return fmt.Errorf("servers: failpoint %s", FPAfterPrecommit)
			}
		}
	}
	if rec.GroupInc == 0 {
		rec.Group = 0
	}
	b, err := stm.Encode(&rec)
	if err != nil {
		return err
	}
	if bytes.Equal(b, ui.saved) && len(puts) == 0 {
		ui.savedInc = st.Inc
		ui.noteCalling(st)
		return nil
	}
	puts = append(puts, put{ui.recID, b})
	prev := savedView{ui: ui, saved: ui.saved, inc: ui.savedInc, calling: maps.Clone(ui.savedCalling)}
	ui.saved, ui.savedInc = b, st.Inc
	ui.noteCalling(st)
	if d.batch != nil { // inside Flush: committed with the other units' saves before anything is sent
		d.batch.puts = append(d.batch.puts, puts...)
		d.batch.prev = append(d.batch.prev, prev)
		return nil
	}
	if err := d.commitPuts(puts); err != nil {
		prev.restore()
		return fmt.Errorf("servers: save unit %s: %w", st.Name, err)
	}
	return nil
}

// put is one object written by a unit save.
type put struct {
	id stm.ID
	b  []byte
}

// savedView is what a unitInfo believed saved before a batched save, to
// restore if the batch fails.
type savedView struct {
	ui      *unitInfo
	saved   []byte
	inc     uint64
	calling map[string]bool
}

func (v savedView) restore() {
	v.ui.saved, v.ui.savedInc, v.ui.savedCalling = v.saved, v.inc, v.calling
}

// saveBatch collects the saves of one Host.Flush: one short STM
// transaction for all the units of this driver (§6.5's batching, applied
// to stable storage).
type saveBatch struct {
	puts []put
	prev []savedView
}

func (d *Driver) commitPuts(puts []put) error {
	return d.cfg.Bank.Update(d.ctx, func(tx *stm.Tx) error {
		for _, p := range puts {
			if err := tx.Put(p.id, p.b); err != nil {
				return err
			}
		}
		return nil
	})
}

// noteCalling remembers which servers the saved state records calls to.
func (ui *unitInfo) noteCalling(st *ru.State) {
	clear(ui.savedCalling)
	if ui.savedCalling == nil {
		ui.savedCalling = map[string]bool{}
	}
	for s := range st.Calling {
		ui.savedCalling[s] = true
	}
}

func (s *driverStore) Load(name string) (*ru.State, error) {
	d := (*Driver)(s)
	ui := d.units[name]
	if ui == nil {
		return nil, ru.ErrNoState
	}
	rec, err := d.loadRecord(ui)
	if err != nil {
		return nil, err
	}
	return rec.State, nil
}

// groupOf maps an atomic action to its STM group (never 0).
func groupOf(a ru.Action) stm.GroupID {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%d\x00%d", a.Root.Name, a.Root.Inc, a.Seq)
	g := h.Sum64()
	if g == 0 {
		g = 1
	}
	return stm.GroupID(g)
}

// stableNames is the servers' STM namespace: "ru:<unit>" names a unit's
// record, "data:<server>" a server's state.
const stableNames = stm.Namespace("servers")

// objectID returns the STM id bank binds to a stable name in the servers'
// namespace, bound in a short transaction of its own the first time (so a
// new name needs a bank with a backup; a known one does not).
func objectID(ctx context.Context, bank *stm.Bank, name string) (stm.ID, error) {
	id, err := stableNames.Resolve(ctx, bank, name)
	if err != nil {
		return 0, fmt.Errorf("servers: stable object %q: %w", name, err)
	}
	return id, nil
}
