package ru

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
