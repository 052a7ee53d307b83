package ru

import (
	"fmt"
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

// Failpoint is consulted at named steps ("ru.before-persist",
// "ru.after-persist"); returning true crashes the unit there. Nil in production.
type Failpoint func(point, unit string) bool

// HostConfig configures a Host.
type HostConfig struct {
	Name   string
	Unit   Config
	Store  Store
	HostOf func(unit string) string // which host serves a unit
	Batch  bool                     // group messages per destination host (§6.5)
	Fail   Failpoint
	Log    *zap.Logger
}

// Host runs the units of one server (or node): it steps them, persists their
// state before sending, and packs their messages into envelopes. It is pure
// too: the driver moves envelopes and calls Tick.
type Host struct {
	cfg   HostConfig
	units map[string]*Unit // live units; a crashed unit is absent until Restart
	dirty map[string]bool  // units stepped since the last Flush
}

// NewHost returns an empty host.
func NewHost(cfg HostConfig) *Host {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Host{cfg: cfg, units: map[string]*Unit{}, dirty: map[string]bool{}}
}

// Add creates a fresh unit on this host.
func (h *Host) Add(name string) *Unit {
	u := NewUnit(name, h.cfg.Unit)
	h.units[name] = u
	if _, _, st := u.Ready(); st != nil {
		if err := h.cfg.Store.Save(st); err != nil {
			h.cfg.Log.Warn("save failed", zap.String("unit", name), zap.Error(err))
		}
	}
	return u
}

// Unit returns a live unit, or nil if it is down or unknown.
func (h *Host) Unit(name string) *Unit { return h.units[name] }

// Touch marks a unit changed by a call hook, so Flush collects its output.
func (h *Host) Touch(name string) { h.dirty[name] = true }

// Persist saves a unit's state now (write-ahead in the call path) and
// returns the events that the saved state made durable.
func (h *Host) Persist(name string) ([]Event, error) {
	u := h.units[name]
	if u == nil {
		return nil, nil
	}
	if err := h.cfg.Store.Save(u.s); err != nil {
		return nil, fmt.Errorf("persist %s: %w", name, err)
	}
	evs := u.events
	u.events = nil
	return evs, nil
}

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

// Restart rebuilds a crashed unit from the store (§4.2.4).
func (h *Host) Restart(name string) error {
	s, err := h.cfg.Store.Load(name)
	if err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	h.units[name], h.dirty[name] = Restart(s, h.cfg.Unit), true
	return nil
}

// Flush persists every changed unit, then returns the envelopes to send and
// the events. A failpoint may crash a unit before or after its save.
func (h *Host) Flush() ([]Envelope, []Event) {
	var envs []Envelope
	var events []Event
	for _, name := range h.dirtyNames() {
		msgs, evs, ok := h.flushUnit(name)
		if !ok {
			continue
		}
		events = append(events, evs...)
		envs = h.pack(envs, msgs)
	}
	h.dirty = map[string]bool{}
	return envs, events
}

func (h *Host) dirtyNames() []string {
	names := make([]string, 0, len(h.dirty))
	for n := range h.dirty {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (h *Host) flushUnit(name string) ([]Msg, []Event, bool) {
	u := h.units[name]
	if u == nil {
		return nil, nil, false
	}
	msgs, evs, st := u.Ready()
	if st != nil {
		if h.fail("ru.before-persist", name) {
			h.Crash(name)
			return nil, nil, false
		}
		if err := h.cfg.Store.Save(st); err != nil {
			h.cfg.Log.Warn("save failed", zap.String("unit", name), zap.Error(err))
			h.Crash(name)
			return nil, nil, false
		}
	}
	if h.fail("ru.after-persist", name) {
		h.Crash(name) // persisted, but the step's messages are lost
		return nil, evs, true
	}
	return msgs, evs, true
}

func (h *Host) fail(point, name string) bool {
	return h.cfg.Fail != nil && h.cfg.Fail(point, name)
}

func (h *Host) pack(envs []Envelope, msgs []Msg) []Envelope {
	for _, m := range msgs {
		to := h.cfg.HostOf(m.To.Name)
		if h.cfg.Batch {
			if i := findEnv(envs, to); i >= 0 {
				envs[i].Msgs = append(envs[i].Msgs, m)
				continue
			}
		}
		envs = append(envs, Envelope{From: h.cfg.Name, To: to, Msgs: []Msg{m}})
	}
	return envs
}

func findEnv(envs []Envelope, to string) int {
	for i := range envs {
		if envs[i].To == to {
			return i
		}
	}
	return -1
}
