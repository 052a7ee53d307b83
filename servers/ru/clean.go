package ru

// Dirty reports whether the unit's state changed since it was last handed
// out by Ready (so the next Ready will ask for it to be saved).
func (u *Unit) Dirty() bool { return u.dirty }

// MarkClean tells the unit that its state need not be saved by the next
// Ready. A driver calls it only when the saved state is as good for
// recovery as the live one: the live state differs at most by a call that
// is over (Calling, which a restart turns into a conditional abort, the
// same as a crash just before the save would).
func (u *Unit) MarkClean() { u.dirty = false }

// KeepCallRecord keeps server in the current RU's write-ahead call record
// after OutCallEnded, for a call that ended without a reply (timed out,
// abandoned): the server may still run it and make this RU a predecessor,
// so an abort of this RU must still send it the conditional abort. The
// record is conservative: a conditional abort aborts nothing at a server
// that does not depend on the aborted RU.
func (u *Unit) KeepCallRecord(server string) {
	if u.s.Calling[server] == 0 {
		u.s.Calling[server] = 1
		u.dirty = true
	}
}

// AbortLate extends the abort wave of an aborted incarnation old of this
// unit to a successor found after the abort: a server that ran an update of
// old whose reply came back only once old had aborted (its conditional
// abort may have reached the server before the call did). The edge is
// resent until acknowledged, like the wave's other edges.
func (u *Unit) AbortLate(old, succ ID) {
	e := AbortEdge{From: old, To: succ}
	if old.Name != u.s.Name || old.Inc >= u.s.Inc || !u.s.Aborted[old.Inc] || u.s.AbortWait[e] {
		return
	}
	u.s.AbortWait[e] = true
	u.dirty = true
	u.send(Msg{Kind: MsgAbort, From: old, To: succ})
}
