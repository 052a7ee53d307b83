package ru

import (
	"maps"
	"slices"
)

// Config tunes a Unit. The zero value is usable.
type Config struct {
	// ResendTicks is how many Ticks pass between resends of unacknowledged
	// waves, queries and requests (default 4).
	ResendTicks int
	// ThreePhase runs every checkpoint through the general three phases:
	// the two-phase path of §8.2.1 (an idle initiator asks its idle
	// predecessors to precommit at the build) is off. Benchmarks use it
	// as the baseline.
	ThreePhase bool
}

// Admission answers a call arriving at a server unit.
type Admission uint8

const (
	Serve Admission = iota // run the call now
	Wait                   // deferred, or waiting for the initiator's authorization: ask again later
)

// Event reports the end of a recovery unit (or a cancelled attempt) to the driver.
type Event struct {
	Outcome Outcome
	RU      ID
	Action  Action
	// Reload (server units): S must be restored from its last committed
	// version: always after an abort, and after a commit of an RU whose S
	// was restored while precommitted (the group held the newer S).
	Reload bool
}

// Unit is one process's recovery-unit state machine (§4.2). It reads no
// clock, starts no goroutine and does no I/O: inputs are Step, Tick and the
// call hooks; outputs are collected by Ready. Not safe for concurrent use:
// one driver goroutine (or a Host) owns it.
type Unit struct {
	s       *State // persisted by the driver after each input, via Ready
	cfg     Config
	out     []Msg
	events  []Event
	decides []Decide
	dirty   bool
	openIn  int // calls being served (volatile: a crash aborts them)
	openOu  int // outgoing calls awaiting their reply
	ticks   int

	server bool // owns a server state S (precommitted, committed and reloaded with its RU)
	stale  bool // S was restored while precommitted: reload it at the decision

	// What the last durable record says (Advance): its incarnation and the
	// servers it records outgoing calls to.
	savedInc     uint64
	savedCalling map[string]bool
	endedPC      uint64 // the precommit mark of this incarnation is cleared at Advance
}

// NewUnit returns a fresh unit (incarnation 1) for process name.
func NewUnit(name string, cfg Config) *Unit {
	s := newState(name)
	s.Inc = 1
	return newUnit(s, cfg)
}

func newUnit(s *State, cfg Config) *Unit {
	if cfg.ResendTicks <= 0 {
		cfg.ResendTicks = 4
	}
	return &Unit{s: s, cfg: cfg, dirty: true}
}

// Restart rebuilds a unit after a crash from its saved state (§4.2.4): a
// precommitted unit waits for the decision; any other loses its volatile
// work, so its RU aborts and the abort wave starts over its successors.
func Restart(s *State, cfg Config) *Unit {
	u := newUnit(s, cfg)
	if s.Phase != Precommitted {
		u.abortRU()
	}
	return u
}

// ID returns the current recovery unit.
func (u *Unit) ID() ID { return ID{u.s.Name, u.s.Inc} }

// Phase returns the current protocol phase; user tasks stop (safe point)
// whenever it is not Running.
func (u *Unit) Phase() Phase { return u.s.Phase }

// State returns the live state (read-only for callers).
func (u *Unit) State() *State { return u.s }

// Outcome reports how RU id of this unit ended: Pending while it runs (or
// for another unit's id), Committed or Aborted once the unit moved on.
func (u *Unit) Outcome(id ID) Outcome {
	if id.Name != u.s.Name || id.Inc >= u.s.Inc {
		return Pending
	}
	return u.s.outcome(id.Inc)
}

// Wants reports whether a checkpoint was asked for and the RU has not ended yet.
func (u *Unit) Wants() bool { return u.s.Want }

// Modified reports whether an update changed the server state in the current RU.
func (u *Unit) Modified() bool { return u.s.Modified }

// Quiescent reports whether the unit has no call in progress.
func (u *Unit) Quiescent() bool { return u.openIn == 0 && u.openOu == 0 }

// hasReady reports whether ready would hand out anything.
func (u *Unit) hasReady() bool {
	return u.dirty || len(u.out) > 0 || len(u.events) > 0 || len(u.decides) > 0
}

// ready hands out the unit's part of a Ready: messages, outcomes, groups
// to decide and, if the state changed, the record to save with what must
// go with it (S's precommit, or S itself for a commit in one step).
func (u *Unit) ready() UnitReady {
	p := UnitReady{Msgs: u.out, Events: u.events, Decides: u.decides}
	u.out, u.events, u.decides = nil, nil, nil
	if !u.dirty {
		return p
	}
	u.dirty = false
	s := u.s
	if u.server {
		p.CommitS = u.savedInc != 0 && s.Inc > u.savedInc && !s.Aborted[u.savedInc] && s.PCInc != u.savedInc
		if s.Phase == Precommitted && (s.PCInc != s.Inc || s.PC != s.Act) {
			s.PC, s.PCInc = s.Act, s.Inc
			p.Precommit = s.Act
		}
	}
	p.Save = s
	return p
}

// advance records that p was executed: its record is durable, its groups decided.
func (u *Unit) advance(p *UnitReady) {
	if p.Save != nil {
		u.savedInc = p.Save.Inc
		if u.savedCalling == nil {
			u.savedCalling = map[string]bool{}
		}
		clear(u.savedCalling)
		for server := range p.Save.Calling {
			u.savedCalling[server] = true
		}
	}
	if u.endedPC != 0 && u.s.PCInc == u.endedPC {
		u.s.PC, u.s.PCInc = Action{}, 0 // decided: the next record says no group
	}
	u.endedPC = 0
}

func (u *Unit) send(m Msg) {
	if m.From.IsZero() {
		m.From = u.ID()
	}
	u.out = append(u.out, m)
}

func (u *Unit) event(o Outcome, ru ID, a Action) {
	u.events = append(u.events, Event{Outcome: o, RU: ru, Action: a})
}

// ended reports the end of RU old (committed or aborted): the event, with
// whether S must be reloaded, and the STM groups its end decides: the group
// S was precommitted into by old, and for an application unit's own
// action the whole action's group (the initiator's commit is the decision).
func (u *Unit) ended(o Outcome, old ID) {
	s := u.s
	ev := Event{Outcome: o, RU: old, Action: s.Act}
	if u.server {
		ev.Reload = o == Aborted || u.stale
		u.stale = false
		if s.PCInc == old.Inc && s.PCInc != 0 {
			u.decides = append(u.decides, Decide{Action: s.PC, Commit: o == Committed})
			u.endedPC = old.Inc
		}
	} else if o == Committed && s.Act.Root == old {
		u.decides = append(u.decides, Decide{Action: s.Act, Commit: true})
	}
	u.events = append(u.events, ev)
}

// Checkpoint asks for a checkpoint of the current RU; the unit becomes an
// initiator now if it is running, or later if its current action fails.
//
// An initiator that is idle (no call in progress: an application stopped
// at its safe point) runs the two-phase path of §8.2.1 unless
// Config.ThreePhase: its predecessors precommit at the build and the
// decision follows their acknowledgments. The attempt falls back to the
// three phases as soon as anything else happens (fallBack).
func (u *Unit) Checkpoint() {
	u.dirty = true
	u.s.Want = true
	if u.s.Phase == Running {
		u.startAction(u.twoPhaseOK())
	}
}

// twoPhaseOK reports whether an attempt started now may take the two-phase
// path: it is on, and the unit is idle.
func (u *Unit) twoPhaseOK() bool { return !u.cfg.ThreePhase && u.Quiescent() }

func (u *Unit) startAction(twoPhase bool) {
	u.s.Seq++
	u.enterBuild(Action{Root: u.ID(), Seq: u.s.Seq}, ID{}, true, twoPhase)
}

func (u *Unit) enterBuild(a Action, parent ID, root, twoPhase bool) {
	u.s.resetAction()
	u.s.Phase, u.s.Act, u.s.Parent, u.s.Root = Building, a, parent, root
	u.s.ParentAt, u.s.TwoPhase = a, twoPhase
	for _, p := range u.s.Preds.list() {
		u.addChild(p)
	}
	u.tryComplete()
}

func (u *Unit) addChild(p ID) {
	if p.Name == u.s.Name || p == u.s.Parent || p == u.s.Act.Root {
		return // the node and the initiator are in the action already
	}
	if _, ok := u.s.Children[p]; ok {
		return
	}
	u.s.Children[p] = child{Act: u.s.Act}
	u.send(Msg{Kind: MsgBuild, To: p, Action: u.s.Act, TwoPhase: u.s.TwoPhase})
}

// outstanding lists touched actions not yet unified with, or resolved for, this one.
func (u *Unit) outstanding() []Action {
	var out []Action
	for _, a := range u.s.Touched.list() {
		if a != u.s.Act && !u.s.Absorbed[a] && !u.s.Settled[a] {
			out = append(out, a)
		}
	}
	return out
}

// tryComplete ends phase 1 at this node when its subtree is complete.
func (u *Unit) tryComplete() {
	s := u.s
	if s.Phase != Building || s.Acked || !s.Joining.IsZero() {
		return
	}
	if s.TwoPhase && u.twoPhaseBroken() {
		u.fallBack()
		return
	}
	if !u.subtreeDone() {
		return
	}
	if !s.Root {
		u.sendAck(!s.Failed)
		return
	}
	if s.Failed {
		u.cancelAction()
		return
	}
	out := u.outstanding()
	switch {
	case len(out) > 0 && u.ownOldAttempt(out):
		u.cancelAction() // a member still sits in an attempt of ours that ended
	case len(out) == 0:
		u.beginPrecommit()
	case out[0].Less(s.Act):
		u.join(out[0])
	default:
		u.sendMerges(out)
	}
}

func (u *Unit) subtreeDone() bool {
	for _, c := range u.s.Children {
		if !c.Replied {
			return false
		}
	}
	for _, g := range u.s.Grants {
		if g.Out {
			return false
		}
	}
	return u.Quiescent()
}

func (u *Unit) sendAck(ok bool) {
	u.s.Acked = true
	r := ReplyOK
	if !ok {
		r = ReplyFailed
	}
	u.send(Msg{Kind: MsgBuildReply, To: u.s.Parent, Action: u.s.Act, Reply: r,
		Touched: u.s.Touched.list(), Absorbed: u.s.Absorbed.list()})
}

// join makes this root a sub-node of the smaller action w (add_dependency).
func (u *Unit) join(w Action) {
	u.s.Joining = w
	u.sendAddDep()
}

func (u *Unit) sendAddDep() {
	w := u.s.Joining
	var touched []Action
	for _, a := range u.s.Touched.list() {
		if !u.s.Settled[a] {
			touched = append(touched, a)
		}
	}
	u.send(Msg{Kind: MsgAddDep, To: w.Root, Action: w, Subject: u.s.Act, Origin: u.ID(),
		Touched: touched, Absorbed: u.s.Absorbed.list()})
}

// sendMerges asks each larger touched action to unify with this one.
func (u *Unit) sendMerges(out []Action) {
	for _, t := range out {
		u.send(Msg{Kind: MsgMerge, To: t.Root, Action: t, Subject: t, Target: u.s.Act})
	}
}

// fail marks the action failed; a root cancels it, a node tells its parent.
func (u *Unit) fail() {
	s := u.s
	if s.Phase != Building {
		return
	}
	s.Failed = true
	switch {
	case s.Root:
		u.cancelAction()
	case !s.Acked:
		u.sendAck(false)
	}
}

func (u *Unit) cancelAction() {
	u.decideChildren(Cancelled)
	u.event(Cancelled, u.ID(), u.s.Act)
	u.s.resetAction()
}

func (u *Unit) decideChildren(o Outcome) {
	for _, id := range sortedChildren(u.s.Children) {
		c := u.s.Children[id]
		if c.Replied && !c.OK {
			continue
		}
		u.send(Msg{Kind: MsgDecision, To: id, Action: c.Act, Outcome: o})
	}
}

func sortedChildren(m map[ID]child) []ID {
	s := idSet{}
	for id := range m {
		s[id] = true
	}
	return s.list()
}

func (u *Unit) beginPrecommit() {
	s := u.s
	s.Phase = Precommitted
	for _, id := range sortedChildren(s.Children) {
		if c := s.Children[id]; c.OK && !c.Precommitted {
			s.PCWait[id] = true
			u.send(Msg{Kind: MsgPrecommit, To: id, Action: c.Act, Target: s.Act})
		}
	}
	u.precommitDone()
}

func (u *Unit) precommitDone() {
	if len(u.s.PCWait) > 0 {
		return
	}
	if u.s.Root {
		u.decide(map[bool]Outcome{false: Committed, true: Aborted}[u.s.MustAbrt])
		return
	}
	u.send(Msg{Kind: MsgPrecommitAck, To: u.s.Parent, Action: u.s.Act, Reply: ReplyOK})
}

// decide is the initiator's decision at the end of phase 2.
func (u *Unit) decide(o Outcome) {
	u.decideChildren(o)
	if o == Committed {
		u.commitRU()
		return
	}
	u.abortRU()
}

func (u *Unit) commitRU() {
	u.ended(Committed, u.ID())
	u.newIncarnation()
}

func (u *Unit) newIncarnation() {
	s := u.s
	s.Inc++
	s.Preds, s.Succs, s.Modified, s.Want = idSet{}, idSet{}, false, false
	s.resetAction()
}

// abortRU aborts the current RU: outcome recorded, abort wave over its
// successors, tree members told, new incarnation.
func (u *Unit) abortRU() {
	s := u.s
	u.dirty = true
	old := u.ID()
	s.Aborted[s.Inc] = true
	for _, id := range s.Succs.list() {
		s.AbortWait[AbortEdge{old, id}] = true
		u.send(Msg{Kind: MsgAbort, From: old, To: id})
	}
	for _, name := range slices.Sorted(maps.Keys(s.Calling)) {
		id := ID{Name: name} // incarnation 0: abort if it depends on old
		s.AbortWait[AbortEdge{old, id}] = true
		u.send(Msg{Kind: MsgAbort, From: old, To: id})
	}
	s.Calling = map[string]int{}
	if s.Phase == Building {
		u.leaveBuildingOnAbort(old)
	}
	u.ended(Aborted, old)
	u.newIncarnation()
}

func (u *Unit) leaveBuildingOnAbort(old ID) {
	s := u.s
	if s.Root {
		u.decideChildren(Cancelled)
		return
	}
	u.send(Msg{Kind: MsgBuildReply, From: old, To: s.Parent, Action: s.Act, Reply: ReplyAborted})
}

func (u *Unit) ownOldAttempt(out []Action) bool {
	for _, a := range out {
		if a.Root.Name == u.s.Name {
			return true
		}
	}
	return false
}

// twoPhaseBroken reports whether a two-phase attempt met anything but idle
// predecessors that precommitted at the build: one that needs the general
// path (it has predecessors to chase, a call in progress, or another
// action), a merge, a call at the initiator or a grant. A precommitted
// member serves no call until the decision, so any of these could wait on
// it forever while the attempt waits on them (§4.2.2's reason for phase 1).
func (u *Unit) twoPhaseBroken() bool {
	s := u.s
	if len(s.Touched) > 0 || len(s.Absorbed) > 0 || len(s.Grants) > 0 || !u.Quiescent() {
		return true
	}
	for _, c := range s.Children {
		if c.Adopted || c.ThreePhase || (c.OK && !c.Precommitted) {
			return true
		}
	}
	return false
}

// fallBack gives up a two-phase attempt for the general path (§8.2.1:
// two phases only when everything stopped before the servers): the
// attempt is cancelled, so its precommitted members withdraw, and a
// three-phase attempt starts at once.
func (u *Unit) fallBack() {
	u.dirty = true
	u.cancelAction()
	if u.s.Want {
		u.startAction(false)
	}
}

// twoPhaseRoot reports whether this unit initiates a two-phase attempt
// still in its build: a call it serves or makes must first turn the
// attempt into a three-phase one (fallBack).
func (u *Unit) twoPhaseRoot() bool {
	return u.s.Phase == Building && u.s.Root && u.s.TwoPhase
}

// withdraw ends a precommit made at a two-phase build whose initiator
// cancelled the attempt: S's group is aborted and the RU runs on. A unit
// whose S was restored from its last committed version at a restart, or
// that an abort wave reached, cannot run on: its RU aborts.
func (u *Unit) withdraw() {
	s := u.s
	if u.stale || s.MustAbrt {
		u.abortRU()
		return
	}
	if u.server && s.PCInc == s.Inc && s.PC == s.Act {
		u.decides = append(u.decides, Decide{Action: s.PC, Commit: false})
		u.endedPC = s.Inc
	}
	u.event(Cancelled, u.ID(), s.Act)
	s.resetAction()
}
