package ru

import (
	"cmp"
	"maps"
	"slices"
)

// inAction reports whether this unit currently belongs to attempt a.
func (u *Unit) inAction(a Action) bool { return u.s.Phase != Running && u.s.Act == a }

// onMerge: Subject and Target must become one action (Figures 9, 10). The
// first hop is Subject's initiator; from there the message climbs to the
// current root of the merged tree (forwarding after losing initiator status).
func (u *Unit) onMerge(m Msg) {
	s := u.s
	if !m.Fwd && !u.inAction(m.Subject) {
		u.resolved(m, Cancelled)
		return
	}
	switch {
	case s.Phase != Building || u.staleHop(m):
		// Precommitted: answered after the outcome, when the sender resends.
	case s.Root && s.Joining.IsZero():
		if m.Target == s.Act && m.Fwd {
			s.Absorbed[m.Subject] = true // reached us through adoption links
		} else {
			s.Touched[m.Target] = true
		}
		u.tryComplete()
	case s.Root: // joining: the adopter inherits Target with our touched set
		if m.Target != s.Joining {
			s.Touched[m.Target] = true
		}
	default:
		u.forward(m)
	}
}

// onAddDep: a losing initiator asks to become a sub-node (add_dependency).
func (u *Unit) onAddDep(m Msg) {
	s := u.s
	if (!m.Fwd && !u.inAction(m.Action)) || (s.Phase != Running && s.Act == m.Subject) {
		u.resolved(m, Cancelled) // ended, or the path led back into the joiner's own tree
		return
	}
	c, adopted := s.Children[m.Origin]
	switch {
	case u.staleHop(m):
	case adopted && c.Adopted && c.Act == m.Subject:
		u.send(Msg{Kind: MsgAdopted, To: m.Origin, Action: m.Subject, Target: s.Act})
	case s.Phase != Building:
		if !s.Root { // the adopter may be above: let it repeat its Adopted
			u.forward(m)
		}
	case !u.acked():
		u.adopt(m)
	default:
		u.forward(m)
	}
}

func (u *Unit) adopt(m Msg) {
	s := u.s
	s.Children[m.Origin] = child{Act: m.Subject, Replied: true, OK: true, Adopted: true}
	s.Touched.addAll(m.Touched)
	s.Absorbed.addAll(m.Absorbed)
	s.Absorbed[m.Subject] = true
	u.send(Msg{Kind: MsgAdopted, To: m.Origin, Action: m.Subject, Target: s.Act})
	u.tryComplete()
}

func (u *Unit) onAdopted(m Msg) {
	s := u.s
	if s.Phase != Building || s.Joining.IsZero() || m.Action != s.Act {
		return
	}
	s.Parent, s.ParentAt, s.Root, s.Joining, s.Acked = m.From, m.Target, false, Action{}, true
}

func (u *Unit) onResolved(m Msg) {
	s := u.s
	if s.Phase != Building || !s.Root || s.Act != m.Action {
		return
	}
	waiting := s.Joining == m.Subject
	if !waiting && (!s.Touched[m.Subject] || s.Absorbed[m.Subject] || s.Settled[m.Subject]) {
		return
	}
	if m.Outcome != Committed {
		s.Joining = Action{}
		u.fail()
		return
	}
	s.Settled[m.Subject] = true
	if waiting {
		s.Joining = Action{}
	}
	u.tryComplete()
}

func (u *Unit) onPrecommit(m Msg) {
	s := u.s
	if !s.Joining.IsZero() && s.Act == m.Action && s.Phase == Building {
		// Our Adopted reply was lost: the precommit wave proves the adoption.
		s.Parent, s.ParentAt, s.Root, s.Joining, s.Acked = m.From, m.Target, false, Action{}, true
	}
	switch {
	case s.Phase == Building && s.Act == m.Action && s.Acked && s.Parent == m.From:
		if s.MustAbrt || s.Failed {
			u.abortRU() // the parent's resend meets the aborted incarnation
			return
		}
		u.beginPrecommit()
	case s.Phase == Precommitted && s.Act == m.Action:
		u.precommitDone() // duplicate: re-acknowledge when complete
	case !u.inAction(m.Action):
		u.send(Msg{Kind: MsgPrecommitAck, To: m.From, Action: m.Action, Reply: ReplyFailed})
	}
}

func (u *Unit) onPrecommitAck(m Msg) {
	s := u.s
	if s.Phase != Precommitted || !s.PCWait[m.From] {
		return
	}
	if m.Reply != ReplyOK {
		if s.Root {
			u.decide(Aborted)
			return
		}
		u.send(Msg{Kind: MsgPrecommitAck, To: s.Parent, Action: s.Act, Reply: m.Reply})
		return
	}
	delete(s.PCWait, m.From)
	u.precommitDone()
}

func (u *Unit) onDecision(m Msg) {
	s := u.s
	if !u.inAction(m.Action) || (m.From != s.Parent && m.From != s.Act.Root) {
		return
	}
	switch {
	case s.Phase == Precommitted && m.Outcome == Committed:
		u.decideChildren(Committed)
		u.commitRU()
	case s.Phase == Precommitted && m.Outcome == Aborted:
		u.decideChildren(Aborted)
		u.abortRU()
	case s.Phase == Precommitted && m.Outcome == Cancelled && s.TwoPhase && !s.Root:
		u.withdraw() // the two-phase attempt fell back or failed
	case s.Phase == Building:
		u.decideChildren(Cancelled)
		u.event(Cancelled, u.ID(), s.Act)
		s.resetAction()
	}
}

func (u *Unit) onQuery(m Msg) {
	s := u.s
	c, ok := s.Children[m.From]
	merged := m.Action.Root == m.From // a merged initiator asks its adopter
	if (!merged && u.inAction(m.Action)) || (merged && ok && c.Adopted && c.Act == m.Action && s.Phase != Running) {
		return // still pending
	}
	u.send(Msg{Kind: MsgDecision, To: m.From, Action: m.Action, Outcome: Cancelled})
}

// onAbort: the crash-recovery wave over successors (§4.2.4).
func (u *Unit) onAbort(m Msg) {
	if u.s.Phase == Precommitted {
		u.s.MustAbrt = true // waits for the initiator's decision
	} else {
		u.abortRU()
	}
	u.send(Msg{Kind: MsgAbortAck, From: m.To, To: m.From})
}

// Tick advances the unit's logical time; every ResendTicks it resends what
// is still unacknowledged and retries a cancelled checkpoint.
func (u *Unit) Tick() {
	u.ticks++
	if u.ticks%u.cfg.ResendTicks != 0 {
		return
	}
	u.resendAborts()
	u.resendDone()
	switch u.s.Phase {
	case Running:
		if u.s.Want {
			u.dirty = true
			u.startAction(u.twoPhaseOK())
		}
	case Building:
		u.resendBuilding()
	case Precommitted:
		u.resendPrecommit()
	}
}

func (u *Unit) resendAborts() {
	for _, e := range sortedEdges(u.s.AbortWait) {
		u.send(Msg{Kind: MsgAbort, From: e.From, To: e.To})
	}
}

func sortedEdges(m map[AbortEdge]bool) []AbortEdge {
	out := make([]AbortEdge, 0, len(m))
	for e := range m {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b AbortEdge) int {
		if a.From != b.From {
			return map[bool]int{true: -1, false: 1}[a.From.Less(b.From)]
		}
		return map[bool]int{true: -1, false: 1}[a.To.Less(b.To)]
	})
	return out
}

func (u *Unit) resendBuilding() {
	s := u.s
	for _, id := range sortedChildren(s.Children) {
		if c := s.Children[id]; !c.Replied {
			u.send(Msg{Kind: MsgBuild, To: id, Action: c.Act, TwoPhase: s.TwoPhase})
		}
	}
	u.resendGrants()
	for _, call := range slices.Sorted(maps.Keys(s.Auth)) {
		if s.Auth[call] == authAsked && u.acked() { // else Admit serves it now
			u.sendAuthRq(call)
		}
	}
	u.resendUp()
}

func (u *Unit) resendUp() {
	s := u.s
	switch {
	case !s.Joining.IsZero():
		u.sendAddDep()
	case s.Root && u.subtreeDone():
		if out := u.outstanding(); len(out) > 0 && s.Act.Less(out[0]) {
			u.sendMerges(out)
		}
	case s.Acked:
		if s.Act.Root != u.ID() {
			u.sendAck(!s.Failed) // a parent that does not count us cancels us
		}
		u.query()
	case !s.Root:
		u.query() // the initiator cancels a member of an attempt that ended
	}
}

func (u *Unit) resendPrecommit() {
	s := u.s
	for _, id := range s.PCWait.list() {
		u.send(Msg{Kind: MsgPrecommit, To: id, Action: s.Children[id].Act, Target: s.Act})
	}
	if !s.Root {
		u.query()
	}
}

func (u *Unit) resendDone() {
	for _, call := range sortedCalls(u.s.Done) {
		d := u.s.Done[call]
		u.send(Msg{Kind: MsgDone, To: d.To, Call: call, Origin: u.ID(), Preds: d.Preds})
	}
}

func sortedCalls(m map[uint64]doneRec) []uint64 {
	out := make([]uint64, 0, len(m))
	for c := range m {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// query asks for the decision of a waiting member: the initiator of its
// attempt answers (a late wave of an ended attempt is then cancelled, never
// kept alive by a cycle of such members), or for a merged initiator its adopter.
func (u *Unit) query() {
	to := u.s.Act.Root
	if to == u.ID() {
		to = u.s.Parent
	}
	u.send(Msg{Kind: MsgQuery, To: to, Action: u.s.Act})
}

// resendGrants repeats every outstanding authorization: a requester that
// no longer needs it (its attempt ended, its RU died) returns it, so a lost
// reply cannot block phase 1 forever.
func (u *Unit) resendGrants() {
	keys := slices.SortedFunc(maps.Keys(u.s.Grants), func(a, b grantKey) int {
		if a.Origin != b.Origin {
			return map[bool]int{true: -1, false: 1}[a.Origin.Less(b.Origin)]
		}
		return cmp.Compare(a.Call, b.Call)
	})
	for _, k := range keys {
		if g := u.s.Grants[k]; g.Out {
			u.send(Msg{Kind: MsgAuthReply, To: k.Origin, Action: g.Act, Call: k.Call, Reply: ReplyOK})
		}
	}
}
