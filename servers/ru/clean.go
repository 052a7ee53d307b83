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
