package ru

import (
	"errors"
	"fmt"
	"maps"
	"sort"

	"go.uber.org/zap"
)

// Envelope is one transport message between hosts. With batching (§6.5)
// it carries every protocol message a host's units send to one other host
// in one step; without, exactly one.
type Envelope struct {
	From, To string
	Msgs     []Msg
}

// Failpoints the caller of a Host hits while it executes a Ready (the Host
// itself does no I/O): before a unit's record is saved, and after it is
// durable but before the unit's messages leave. A hook that fires there
// crashes the unit (Host.Crash), and the caller restarts it from its record.
const (
	FPBeforePersist = "ru.before-persist"
	FPAfterPersist  = "ru.after-persist"
)

// HostConfig configures a Host.
type HostConfig struct {
	Name   string
	Unit   Config
	Store  Store                    // loads records at Restart; the Host never writes it
	HostOf func(unit string) string // which host serves a unit
	Batch  bool                     // group messages per destination host (§6.5)
	Log    *zap.Logger
}

// Host runs the units of one server (or node): it steps them and hands
// their output to its caller as a Ready, in the manner of etcd-raft: the
// caller saves, precommits, sends, decides and applies what the Ready
// says, then calls Advance. It is pure too: it does no I/O.
type Host struct {
	cfg   HostConfig
	units map[string]*Unit // live units; a crashed unit is absent until Restart
	dirty map[string]bool  // units stepped since the last Ready
	names []string         // scratch for dirtyNames, reused by every Ready
}

// NewHost returns an empty host.
func NewHost(cfg HostConfig) *Host {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Host{cfg: cfg, units: map[string]*Unit{}, dirty: map[string]bool{}}
}

// Add creates a fresh unit on this host; the next Ready saves its first
// record. A server unit owns a server state S, which the Ready's
// precommits, commits and reloads follow.
func (h *Host) Add(name string, server bool) *Unit {
	u := NewUnit(name, h.cfg.Unit)
	u.server = server
	h.units[name], h.dirty[name] = u, true
	return u
}

// Unit returns a live unit, or nil if it is down or unknown.
func (h *Host) Unit(name string) *Unit { return h.units[name] }

// Touch marks a unit changed by a call hook, so Ready collects its output.
func (h *Host) Touch(name string) { h.dirty[name] = true }

// Deliver steps every message of env into its unit; messages to a down
// unit are lost.
func (h *Host) Deliver(env Envelope) {
	for _, m := range env.Msgs {
		if u := h.units[m.To.Name]; u != nil {
			u.Step(m)
			h.dirty[m.To.Name] = true
		}
	}
}

// Tick ticks every live unit.
func (h *Host) Tick() {
	for name, u := range h.units {
		u.Tick()
		h.dirty[name] = true
	}
}

// Crash drops a unit's volatile state; it stays down until Restart.
func (h *Host) Crash(name string) {
	h.cfg.Log.Debug("crash", zap.String("unit", name))
	delete(h.units, name)
	delete(h.dirty, name)
}

// Recovery is what the caller does at once for a restarted server unit,
// before its next Ready (§4.2.4).
type Recovery struct {
	// Decides are the STM groups the crash left undecided: one whose
	// decision the record holds but may not have been applied (a commit
	// or abort of an ended RU, or a two-phase precommit withdrawn), and
	// the group of an action the unit was building in (S may have been
	// precommitted before the record said so: that can only abort).
	Decides []Decide
	// Precommitted: the unit waits for its action's decision with S in the
	// group: restore S from its last committed version now and run the
	// restart hook. Otherwise the restart aborts the RU and the Aborted
	// outcome of the next Ready restores S.
	Precommitted bool
}

// Restart rebuilds a crashed unit from the store (§4.2.4). Its restart
// output (the abort wave of a unit that was not precommitted) comes with
// the next Ready. A unit whose first record never became durable starts
// afresh: nothing of it left the host.
func (h *Host) Restart(name string, server bool) (Recovery, error) {
	s, err := h.cfg.Store.Load(name)
	if errors.Is(err, ErrNoState) {
		h.Add(name, server)
		return Recovery{}, nil
	}
	if err != nil {
		return Recovery{}, fmt.Errorf("restart %s: %w", name, err)
	}
	var rec Recovery
	if server {
		rec = recoverGroups(s)
	}
	u := Restart(s, h.cfg.Unit)
	u.server, u.stale = server, rec.Precommitted
	u.savedInc, u.savedCalling = s.Inc, callingSet(s.Calling)
	h.units[name], h.dirty[name] = u, true
	return rec, nil
}

// recoverGroups decides, from a server unit's loaded record, the groups its
// crash left undecided, and keeps the precommit mark only for a unit that
// waits for its decision.
func recoverGroups(s *State) Recovery {
	var rec Recovery
	switch {
	case s.PCInc != 0 && s.Inc > s.PCInc: // decided, maybe not applied to STM
		rec.Decides = []Decide{{Action: s.PC, Commit: !s.Aborted[s.PCInc]}}
	case s.Phase == Precommitted: // waits for the decision: S stays in the group
		rec.Precommitted = true
		s.PC, s.PCInc = s.Act, s.Inc
		return rec
	case s.PCInc != 0: // a two-phase precommit withdrawn, maybe not applied to STM
		rec.Decides = []Decide{{Action: s.PC, Commit: false}}
	}
	if s.Phase == Building && !s.Act.IsZero() && s.Act != s.PC {
		rec.Decides = append(rec.Decides, Decide{Action: s.Act, Commit: false})
	}
	s.PC, s.PCInc = Action{}, 0
	return rec
}

// Ready is one round of a Host's output, as etcd-raft's Ready is: what the
// caller must make durable, send, decide and apply, stated per unit. The
// caller executes each UnitReady in this order:
//  1. Precommit: precommit the unit's S into the action's STM group;
//  2. Save: write the record (with S when CommitS), all the Saves of the
//     Ready in one atomic write, durable before anything below;
//  3. send the unit's Msgs (Host.Pack packs them into envelopes);
//  4. Decides: decide the STM groups;
//  5. Events: apply each RU's end to S (reload it when Reload says so).
//
// Then it calls Advance with the parts it executed. A part it could not
// make durable goes to SaveFailed; a part whose unit crashed at a
// failpoint goes nowhere (the unit restarts from its record).
type Ready struct {
	Units []UnitReady
}

// UnitReady is one unit's part of a Ready.
type UnitReady struct {
	Unit string
	// Save is the record to write; nil when the saved one is as good for
	// recovery. It is the unit's live state: encode it before the unit's
	// next input.
	Save *State
	// CommitS: the RU committed within this step without a precommit (a
	// lone initiator: nothing to wait for), so S was never precommitted;
	// S goes in the same atomic write as the record saying it committed.
	CommitS bool
	// Precommit, when set, is the action into whose group S is
	// precommitted before Save (Save.PC says so).
	Precommit Action
	Msgs      []Msg
	Decides   []Decide
	Events    []Event
}

// Decide is one STM group to decide: the group of Action's checkpoint.
type Decide struct {
	Action Action
	Commit bool
}

// effects reports whether the part carries anything beyond its record:
// what the unit did in memory and cannot take back once its save failed.
func (p *UnitReady) effects() bool {
	return len(p.Msgs) > 0 || len(p.Events) > 0 || len(p.Decides) > 0 || !p.Precommit.IsZero()
}

// HasReady reports whether a Ready would carry anything: a cheap check for
// the call path, which then skips the whole round.
func (h *Host) HasReady() bool {
	for name := range h.dirty {
		if u := h.units[name]; u != nil && u.hasReady() {
			return true
		}
	}
	return false
}

// Ready collects the output of every unit stepped since the last Ready.
// It allocates only the parts it hands out: Units is sized once, to the
// units that have output.
func (h *Host) Ready() Ready {
	var rd Ready
	names := h.dirtyNames()
	if n := h.countReady(names); n > 0 {
		rd.Units = make([]UnitReady, 0, n)
		for _, name := range names {
			if u := h.units[name]; u != nil && u.hasReady() {
				p := u.ready()
				p.Unit = name
				rd.Units = append(rd.Units, p)
			}
		}
	}
	clear(h.dirty)
	return rd
}

// countReady counts the units among names whose part would carry anything
// (hasReady: a dirty unit saves its record, any other has effects).
func (h *Host) countReady(names []string) int {
	n := 0
	for _, name := range names {
		if u := h.units[name]; u != nil && u.hasReady() {
			n++
		}
	}
	return n
}

// Advance tells the host that the parts of rd it is given were executed:
// their records are durable and their groups decided.
func (h *Host) Advance(rd Ready) {
	for i := range rd.Units {
		p := &rd.Units[i]
		if u := h.units[p.Unit]; u != nil {
			u.advance(p)
		}
	}
}

// SaveFailed tells the host that p's record could not be made durable. A
// unit whose part carries effects (messages, outcomes, decides, a
// precommit) crashes: those happened in memory only. A unit whose part is
// its record alone keeps running; the next Ready saves it again.
func (h *Host) SaveFailed(p UnitReady) {
	u := h.units[p.Unit]
	if u == nil {
		return
	}
	if p.effects() {
		h.Crash(p.Unit)
		return
	}
	u.dirty, h.dirty[p.Unit] = true, true
}

// dirtyNames returns the dirty units' names in order, in h.names: valid
// until the next call.
func (h *Host) dirtyNames() []string {
	names := h.names[:0]
	for n := range h.dirty {
		names = append(names, n)
	}
	sort.Strings(names)
	h.names = names
	return names
}

// Pack packs messages into envelopes, one per destination host when
// batching, one per message otherwise. A batch opened here is sized for
// every message of msgs to its host, so it is allocated once.
func (h *Host) Pack(envs []Envelope, msgs []Msg) []Envelope {
	for i, m := range msgs {
		to := h.cfg.HostOf(m.To.Name)
		if !h.cfg.Batch {
			envs = append(envs, Envelope{From: h.cfg.Name, To: to, Msgs: []Msg{m}})
			continue
		}
		if j := findEnv(envs, to); j >= 0 {
			envs[j].Msgs = append(envs[j].Msgs, m)
			continue
		}
		batch := make([]Msg, 1, 1+h.countTo(msgs[i+1:], to))
		batch[0] = m
		envs = append(envs, Envelope{From: h.cfg.Name, To: to, Msgs: batch})
	}
	return envs
}

// countTo counts the messages of msgs bound for host to.
func (h *Host) countTo(msgs []Msg, to string) int {
	n := 0
	for i := range msgs {
		if h.cfg.HostOf(msgs[i].To.Name) == to {
			n++
		}
	}
	return n
}

func findEnv(envs []Envelope, to string) int {
	for i := range envs {
		if envs[i].To == to {
			return i
		}
	}
	return -1
}

func callingSet(m map[string]int) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range maps.Keys(m) {
		out[k] = true
	}
	return out
}
