package ru

// Step feeds one message to the unit.
func (u *Unit) Step(m Msg) {
	u.dirty = true
	if m.To.Name != u.s.Name || m.To.Inc > u.s.Inc {
		return
	}
	if m.Kind == MsgAbort && m.To.Inc == 0 {
		u.onCondAbort(m)
		return
	}
	if m.Kind == MsgAbortAck { // the wave outlives the aborted incarnation
		delete(u.s.AbortWait, AbortEdge{From: m.To, To: m.From})
		return
	}
	if m.To.Inc < u.s.Inc {
		u.stepOld(m, u.s.outcome(m.To.Inc))
		return
	}
	switch m.Kind {
	case MsgBuild:
		u.onBuild(m)
	case MsgBuildReply:
		u.onBuildReply(m)
	case MsgAuthRq:
		u.onAuthRq(m)
	case MsgAuthReply:
		u.onAuthReply(m)
	case MsgDone:
		u.onDone(m)
	case MsgDoneAck:
		delete(u.s.Done, m.Call)
	default:
		u.stepWave(m)
	}
}

func (u *Unit) stepWave(m Msg) {
	switch m.Kind {
	case MsgMerge:
		u.onMerge(m)
	case MsgAddDep:
		u.onAddDep(m)
	case MsgAdopted:
		u.onAdopted(m)
	case MsgResolved:
		u.onResolved(m)
	case MsgPrecommit:
		u.onPrecommit(m)
	case MsgPrecommitAck:
		u.onPrecommitAck(m)
	case MsgDecision:
		u.onDecision(m)
	case MsgQuery:
		u.onQuery(m)
	case MsgAbort:
		u.onAbort(m)
	}
}

// stepOld answers a message for an ended incarnation from its recorded outcome.
func (u *Unit) stepOld(m Msg, o Outcome) {
	r := ReplyAborted
	if o == Committed {
		r = ReplyCommitted
	}
	switch m.Kind {
	case MsgBuild:
		u.send(Msg{Kind: MsgBuildReply, From: m.To, To: m.From, Action: m.Action, Reply: r})
	case MsgPrecommit:
		u.send(Msg{Kind: MsgPrecommitAck, From: m.To, To: m.From, Action: m.Action, Reply: r})
	case MsgQuery:
		u.send(Msg{Kind: MsgDecision, From: m.To, To: m.From, Action: m.Action, Outcome: o})
	case MsgMerge, MsgAddDep:
		if !m.Fwd {
			u.resolved(m, o)
		}
	case MsgDone:
		u.send(Msg{Kind: MsgDoneAck, From: m.To, To: m.From, Call: m.Call})
	case MsgAuthReply:
		if m.Reply == ReplyOK { // the call died with this incarnation: return the grant
			u.send(Msg{Kind: MsgDone, From: m.To, To: m.From, Call: m.Call | releaseBit, Origin: m.To})
		}
	case MsgAbort:
		u.send(Msg{Kind: MsgAbortAck, From: m.To, To: m.From})
	}
}

// resolved tells whoever waits on a Merge or AddDep that the action ended.
func (u *Unit) resolved(m Msg, o Outcome) {
	if m.Kind == MsgMerge {
		u.send(Msg{Kind: MsgResolved, From: m.To, To: m.Target.Root, Action: m.Target,
			Subject: m.Subject, Outcome: o})
		return
	}
	u.send(Msg{Kind: MsgResolved, From: m.To, To: m.Origin, Action: m.Subject,
		Subject: m.Action, Outcome: o})
}

func (u *Unit) onBuild(m Msg) {
	s := u.s
	switch {
	case m.Action.Root.Name == s.Name && !(s.Root && s.Act == m.Action):
		// A late wave of an attempt this unit started and already ended.
		u.send(Msg{Kind: MsgBuildReply, To: m.From, Action: m.Action, Reply: ReplyFailed})
	case m.TwoPhase:
		u.onTwoPhaseBuild(m)
	case s.Phase == Running:
		u.enterBuild(m.Action, m.From, false, false)
	case s.Phase == Precommitted:
		// Answered after the outcome, when the sender resends.
	case s.Act != m.Action:
		u.send(Msg{Kind: MsgBuildReply, To: m.From, Action: m.Action, Reply: ReplyInAction, InAction: s.Act})
	case s.Parent != m.From:
		u.send(Msg{Kind: MsgBuildReply, To: m.From, Action: m.Action, Reply: ReplySame})
	case s.Acked:
		u.sendAck(!s.Failed) // duplicate: re-acknowledge
	}
}

// onTwoPhaseBuild answers the build of a two-phase attempt (§8.2.1). An
// idle unit whose only predecessor is the initiator (nothing to chase)
// joins precommitted and says so in its ack: build and precommit in one
// wave. Any other unit answers three-phase without joining, and the
// initiator falls back to the general path.
func (u *Unit) onTwoPhaseBuild(m Msg) {
	s := u.s
	switch {
	case s.Phase == Precommitted && s.TwoPhase && s.Act == m.Action && s.Parent == m.From:
		u.sendTwoPhaseAck() // duplicate: re-acknowledge
	case u.canPrecommitAtBuild(m):
		s.resetAction()
		s.Phase, s.Act, s.Parent, s.ParentAt = Precommitted, m.Action, m.From, m.Action
		s.Acked, s.TwoPhase = true, true
		u.sendTwoPhaseAck()
	default:
		u.send(Msg{Kind: MsgBuildReply, To: m.From, Action: m.Action, Reply: ReplyThreePhase})
	}
}

// canPrecommitAtBuild reports whether the unit may precommit at the
// two-phase build m: running, idle, no precommit mark still to clear, and
// no predecessor but the initiator, which sent m itself.
func (u *Unit) canPrecommitAtBuild(m Msg) bool {
	s := u.s
	if s.Phase != Running || !u.Quiescent() || s.PCInc != 0 || m.From != m.Action.Root {
		return false
	}
	for p := range s.Preds {
		if p != m.From {
			return false
		}
	}
	return true
}

func (u *Unit) sendTwoPhaseAck() {
	u.send(Msg{Kind: MsgBuildReply, To: u.s.Parent, Action: u.s.Act, Reply: ReplyOK, TwoPhase: true})
}

func (u *Unit) onBuildReply(m Msg) {
	s := u.s
	c, ok := s.Children[m.From]
	if s.Phase == Running || c.Act != m.Action || !ok || (c.Replied && !c.OK) {
		if m.Reply == ReplyOK { // joined through a late or duplicate wave: not in this tree
			u.send(Msg{Kind: MsgDecision, From: m.To, To: m.From, Action: m.Action, Outcome: Cancelled})
		}
		return
	}
	if c.Replied || s.Phase != Building {
		if m.Reply == ReplyAborted || m.Reply == ReplyFailed {
			u.fail()
		}
		return
	}
	u.childReplied(m, c)
	u.tryComplete()
}

func (u *Unit) childReplied(m Msg, c child) {
	s := u.s
	c.Replied = true
	switch m.Reply {
	case ReplyOK:
		c.OK, c.Precommitted = true, m.TwoPhase
		s.Touched.addAll(m.Touched)
		s.Absorbed.addAll(m.Absorbed)
	case ReplyInAction:
		s.Touched[m.InAction] = true
	case ReplyThreePhase:
		c.ThreePhase = true
	case ReplyFailed, ReplyAborted:
		defer u.fail()
	}
	s.Children[m.From] = c
}

// Admit is called when call arrives at this (server) unit. Serve means run
// it now (the driver must call CallEnded later); Wait means ask again later.
func (u *Unit) Admit(call uint64) Admission {
	s := u.s
	if u.twoPhaseRoot() {
		u.fallBack() // the call may need a precommitted member
	}
	switch {
	case s.Phase == Running || (s.Phase == Building && !u.acked()):
		u.openIn++
		return Serve
	case s.Phase == Precommitted:
		return Wait
	}
	switch s.Auth[call] {
	case authServe:
		u.openIn++
		return Serve
	case 0:
		u.dirty = true
		s.Auth[call] = authAsked
		u.sendAuthRq(call)
	}
	return Wait
}

// acked reports whether phase 1 completed at this node (ack sent, or a root
// waiting to be adopted): from then on calls need the initiator's authorization.
func (u *Unit) acked() bool { return u.s.Acked || !u.s.Joining.IsZero() }

// up returns the next hop toward the current initiator and the action that
// hop must still be in for the link to be valid.
func (u *Unit) up() (ID, Action) {
	if !u.s.Joining.IsZero() {
		return u.s.Joining.Root, u.s.Joining
	}
	return u.s.Parent, u.s.ParentAt
}

// forward sends m one hop up, toward the current initiator.
func (u *Unit) forward(m Msg) {
	m.To, m.Via = u.up()
	m.From, m.Fwd = u.ID(), true
	u.send(m)
}

// staleHop reports a forwarded message that followed a link of an ended attempt.
func (u *Unit) staleHop(m Msg) bool { return m.Fwd && !u.inAction(m.Via) }

func (u *Unit) sendAuthRq(call uint64) {
	to, via := u.up()
	u.send(Msg{Kind: MsgAuthRq, To: to, Via: via, Fwd: true, Action: u.s.Act, Call: call, Origin: u.ID()})
}

func (u *Unit) onAuthRq(m Msg) {
	s := u.s
	switch {
	case u.staleHop(m):
	case s.Phase == Building && !u.acked():
		key := grantKey{m.Origin, m.Call}
		if g, seen := s.Grants[key]; seen && !g.Out {
			break // already returned: never granted twice
		}
		s.Grants[key] = grant{Out: true, Act: m.Action}
		u.send(Msg{Kind: MsgAuthReply, To: m.Origin, Action: m.Action, Call: m.Call, Reply: ReplyOK})
	case s.Phase == Building:
		u.forward(m)
	case s.Phase == Precommitted:
		u.send(Msg{Kind: MsgAuthReply, To: m.Origin, Action: m.Action, Call: m.Call, Reply: ReplyDefer})
	}
}

func (u *Unit) onAuthReply(m Msg) {
	s := u.s
	waiting := s.Phase == Building && s.Act == m.Action && s.Auth[m.Call] == authAsked
	switch {
	case waiting && m.Reply == ReplyDefer:
		s.Auth[m.Call] = authDefer
	case waiting:
		s.Auth[m.Call] = authServe
		s.Granter[m.Call] = m.From
	case m.Reply == ReplyOK && !u.usesGrant(m.Call, m.From):
		u.release(m) // a second grant, or one for a call that stopped waiting
	}
}

// CallEnded is called when a call admitted with Serve has returned.
//
// A call that ends in a Running RU outside any authorization changes
// nothing the record holds: the unit stays clean (nothing to save, send or
// wake), the hot path of reliable calls.
func (u *Unit) CallEnded(call uint64) {
	u.openIn--
	s := u.s
	if s.Phase != Running {
		u.dirty = true
	}
	if g, ok := s.Granter[call]; ok {
		u.dirty = true
		d := doneRec{To: g, Preds: s.NewPreds.list()}
		s.NewPreds = idSet{}
		delete(s.Granter, call)
		s.Done[call] = d
		u.send(Msg{Kind: MsgDone, To: g, Call: call, Origin: u.ID(), Preds: d.Preds})
	}
	u.tryComplete()
}

func (u *Unit) onDone(m Msg) {
	s := u.s
	key := grantKey{m.Origin, m.Call &^ releaseBit}
	if g := s.Grants[key]; g.Out {
		s.Grants[key] = grant{Act: g.Act} // returned; kept so a late AuthRq is not granted again
		if s.Phase == Building && !u.acked() {
			for _, p := range m.Preds {
				u.addChild(p)
			}
		}
	}
	u.send(Msg{Kind: MsgDoneAck, To: m.From, Call: m.Call})
	u.tryComplete()
}

// OutCallStarted and OutCallEnded bracket an outgoing call of this unit to
// server. The next Ready saves the state (write-ahead) and the driver sends
// the request only once it is durable: if this RU aborts before it could
// record the dependency the reply creates, the abort wave still reaches
// that server (§4.2.4). A Running unit whose durable record lists a call
// to server already needs no new save.
func (u *Unit) OutCallStarted(server string) {
	if u.twoPhaseRoot() {
		u.fallBack() // the call may need a precommitted member
	}
	if u.s.Phase != Running || !u.savedCalling[server] {
		u.dirty = true
	}
	u.openOu++
	u.s.Calling[server]++
}

// OutCallEnded: see OutCallStarted. ru is the RU that started the call: a
// call of an ended incarnation no longer counts in Calling (its abort wave
// was sent already). In a Running RU the end of a call needs no save: the
// record's extra entry in Calling only makes a restart send a conditional
// abort that aborts nothing (KeepCallRecord).
func (u *Unit) OutCallEnded(server string, ru ID) {
	if u.s.Phase != Running {
		u.dirty = true
	}
	if u.openOu > 0 {
		u.openOu--
	}
	switch {
	case ru != u.ID():
	case u.s.Calling[server] > 1:
		u.s.Calling[server]--
	default:
		delete(u.s.Calling, server)
	}
	u.tryComplete()
}

// AddPred records p → this RU (p is a predecessor). During phase 1 the new
// predecessor joins the action: directly before the ack, through the
// granter's Done after it (§4.2.2).
func (u *Unit) AddPred(p ID) {
	s := u.s
	if p.Name == s.Name || s.Preds[p] {
		return
	}
	u.dirty = true
	s.Preds[p] = true
	switch {
	case s.Phase != Building:
	case !u.acked():
		u.addChild(p)
	default:
		s.NewPreds[p] = true
	}
}

// AddSucc records this RU → q (q is a successor).
func (u *Unit) AddSucc(q ID) {
	if q.Name != u.s.Name && !u.s.Succs[q] {
		u.dirty = true
		u.s.Succs[q] = true
	}
}

// MarkModified records that an update changed the server state in this RU.
func (u *Unit) MarkModified() {
	if !u.s.Modified {
		u.dirty = true
		u.s.Modified = true
	}
}

// onCondAbort: an aborted client that may have called this server without
// recording the dependency: abort only if the client is a predecessor.
func (u *Unit) onCondAbort(m Msg) {
	if u.s.Preds[m.From] {
		m.To = u.ID()
		u.onAbort(m)
	}
	u.send(Msg{Kind: MsgAbortAck, From: ID{Name: u.s.Name}, To: m.From})
}

// usesGrant reports that call runs, or ran, under granter's grant and
// its Done is still to be acknowledged (then the Done returns the grant).
func (u *Unit) usesGrant(call uint64, granter ID) bool {
	d, done := u.s.Done[call]
	return u.s.Granter[call] == granter || (done && d.To == granter)
}

// releaseBit marks the Done that returns an unused grant.
const releaseBit = 1 << 63

func (u *Unit) release(m Msg) {
	key := m.Call | releaseBit
	u.s.Done[key] = doneRec{To: m.From}
	u.send(Msg{Kind: MsgDone, To: m.From, Call: key, Origin: u.ID()})
}
