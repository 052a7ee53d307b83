package ru

// failFunc crashes a unit at a named point when it returns true.
type failFunc func(point, unit string) bool

// execute runs one Ready of h the way the servers driver's executor does,
// over the in-memory store: each unit's record is written (between the
// persist failpoints), then its messages are packed into envelopes and its
// events returned; Advance acknowledges the executed parts. A unit crashed
// at a failpoint is left down for the caller to restart. Like the driver,
// it filters the Ready's parts in place and packs each part's messages as
// it goes: the harness adds no copies of its own to what it measures.
func execute(h *Host, store *MemStore, fail failFunc) ([]Envelope, []Event) {
	rd := h.Ready()
	var envs []Envelope
	var evs []Event
	done := rd.Units[:0] // filtered in place: p is read before its slot is written
	for _, p := range rd.Units {
		if p.Save != nil {
			if fail != nil && fail(FPBeforePersist, p.Unit) {
				h.Crash(p.Unit)
				continue
			}
			store.Put(p.Save)
		}
		done = append(done, p)
		evs = append(evs, p.Events...)
		if fail != nil && fail(FPAfterPersist, p.Unit) {
			h.Crash(p.Unit) // persisted, but the step's messages are lost
			continue
		}
		envs = h.Pack(envs, p.Msgs)
	}
	h.Advance(Ready{Units: done})
	return envs, evs
}
