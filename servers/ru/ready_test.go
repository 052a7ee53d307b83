package ru

import (
	"slices"
	"testing"
)

// readyRig is a client app on host "app" and a server unit kv on host
// "srv", over one MemStore, driven Ready by Ready.
type readyRig struct {
	t      *testing.T
	store  *MemStore
	hosts  map[string]*Host
	hostOf map[string]string
	net    []Envelope
	parts  map[string][]UnitReady // every part handed out, per unit
}

func newReadyRig(t *testing.T) *readyRig {
	r := &readyRig{t: t, store: NewMemStore(), hosts: map[string]*Host{},
		hostOf: map[string]string{"app": "app", "kv": "srv"}, parts: map[string][]UnitReady{}}
	for _, h := range []string{"app", "srv"} {
		r.hosts[h] = NewHost(HostConfig{Name: h, Store: r.store, Batch: true,
			HostOf: func(u string) string { return r.hostOf[u] }})
	}
	r.hosts["app"].Add("app", false)
	r.hosts["srv"].Add("kv", true)
	r.run()
	return r
}

func (r *readyRig) unit(name string) *Unit { return r.hosts[r.hostOf[name]].Unit(name) }

// step executes one Ready of host h, recording its parts.
func (r *readyRig) step(h string) {
	rd := r.hosts[h].Ready()
	var msgs []Msg
	for _, p := range rd.Units {
		kept := p
		if p.Save != nil {
			r.store.Put(p.Save)
			kept.Save = p.Save.Clone() // as it was saved: the live state moves on
		}
		r.parts[p.Unit] = append(r.parts[p.Unit], kept)
		msgs = append(msgs, p.Msgs...)
	}
	r.hosts[h].Advance(rd)
	r.net = append(r.net, r.hosts[h].Pack(nil, msgs)...)
}

// run executes Readies and delivers envelopes until nothing moves.
func (r *readyRig) run() {
	for i := 0; i < 1000; i++ {
		r.step("app")
		r.step("srv")
		if len(r.net) == 0 {
			return
		}
		env := r.net[0]
		r.net = r.net[1:]
		r.hosts[env.To].Deliver(env)
	}
	r.t.Fatal("the rig never settled")
}

// update records an update call of app on kv (both directions, §4.1).
func (r *readyRig) update() {
	app, kv := r.unit("app"), r.unit("kv")
	app.OutCallStarted("kv")
	r.hosts["app"].Touch("app")
	r.step("app")
	kv.MarkModified()
	kv.AddPred(app.ID())
	kv.AddSucc(app.ID())
	app.AddPred(kv.ID())
	app.AddSucc(kv.ID())
	app.OutCallEnded("kv", app.ID())
	r.hosts["srv"].Touch("kv")
	r.hosts["app"].Touch("app")
	r.run()
}

// find returns the first part of unit's Readies that has pred.
func (r *readyRig) find(unit string, pred func(UnitReady) bool) (UnitReady, bool) {
	for _, p := range r.parts[unit] {
		if pred(p) {
			return p, true
		}
	}
	return UnitReady{}, false
}

// A server unit that checkpoints alone commits within one step without a
// precommit: the Ready says S goes with the record (CommitS), and asks
// for no precommit and no decide.
func TestReadyStatesOneStepCommit(t *testing.T) {
	r := newReadyRig(t)
	r.unit("kv").MarkModified()
	r.unit("kv").Checkpoint()
	r.hosts["srv"].Touch("kv")
	r.run()
	p, ok := r.find("kv", func(p UnitReady) bool { return len(p.Events) > 0 })
	if !ok {
		t.Fatal("kv's commit was never reported")
	}
	if ev := p.Events[0]; ev.Outcome != Committed || ev.Reload {
		t.Fatalf("event %+v, want a commit with no reload", ev)
	}
	if !p.CommitS || p.Save == nil || !p.Precommit.IsZero() || len(p.Decides) != 0 {
		t.Fatalf("part %+v: want CommitS with the record, no precommit, no decide", p)
	}
}

// A server unit taken into an application's checkpoint precommits S (the
// Ready says into which action, before the record saying Precommitted),
// and its commit decides that group; Advance then clears the mark. The
// application initiator's commit decides its own action's group.
func TestReadyStatesPrecommitAndDecides(t *testing.T) {
	r := newReadyRig(t)
	r.update()
	act := Action{Root: r.unit("app").ID(), Seq: 1}
	r.unit("app").Checkpoint()
	r.hosts["app"].Touch("app")
	r.run()
	pc, ok := r.find("kv", func(p UnitReady) bool { return !p.Precommit.IsZero() })
	if !ok || pc.Precommit != act || pc.Save == nil || pc.Save.PC != act || pc.Save.Phase != Precommitted {
		t.Fatalf("precommit part %+v (found %v), want S precommitted into %s with the record", pc, ok, act)
	}
	end, ok := r.find("kv", func(p UnitReady) bool { return len(p.Events) > 0 })
	if !ok || len(end.Decides) != 1 || end.Decides[0] != (Decide{Action: act, Commit: true}) || end.CommitS {
		t.Fatalf("kv's end %+v: want one commit decide of %s and no CommitS", end, act)
	}
	if end.Save == nil || end.Save.PCInc == 0 {
		t.Fatal("the record saved with the decision lost the precommit mark before the decide")
	}
	if st := r.unit("kv").State(); st.PCInc != 0 {
		t.Fatalf("mark %s/%d kept after Advance", st.PC, st.PCInc)
	}
	app, ok := r.find("app", func(p UnitReady) bool { return len(p.Events) > 0 })
	if !ok || len(app.Decides) != 1 || app.Decides[0] != (Decide{Action: act, Commit: true}) {
		t.Fatalf("app's end %+v: want the initiator's decide of %s", app, act)
	}
}

// A server unit restarted while precommitted waits with S in the group; one
// whose record holds a decision not yet cleared decides it again; one that
// crashed building aborts that action's group.
func TestRestartStatesRecovery(t *testing.T) {
	act := Action{Root: ID{"app", 1}, Seq: 1}
	cases := []struct {
		name string
		st   State
		want Recovery
	}{
		{"precommitted", State{Phase: Precommitted, Act: act, PC: act, PCInc: 3, Inc: 3},
			Recovery{Precommitted: true}},
		{"decided", State{Inc: 4, PC: act, PCInc: 3, Aborted: map[uint64]bool{3: true}},
			Recovery{Decides: []Decide{{Action: act, Commit: false}}}},
		{"building", State{Phase: Building, Act: act, Inc: 3},
			Recovery{Decides: []Decide{{Action: act, Commit: false}}}},
	}
	for _, c := range cases {
		store := NewMemStore()
		st := newState("kv")
		st.Phase, st.Act, st.Inc, st.PC, st.PCInc = c.st.Phase, c.st.Act, c.st.Inc, c.st.PC, c.st.PCInc
		if c.st.Aborted != nil {
			st.Aborted = c.st.Aborted
		}
		store.Put(st)
		h := NewHost(HostConfig{Name: "srv", Store: store, HostOf: func(string) string { return "srv" }})
		got, err := h.Restart("kv", true)
		if err != nil {
			t.Fatal(err)
		}
		if got.Precommitted != c.want.Precommitted || len(got.Decides) != len(c.want.Decides) ||
			(len(got.Decides) == 1 && got.Decides[0] != c.want.Decides[0]) {
			t.Fatalf("%s: recovery %+v, want %+v", c.name, got, c.want)
		}
	}
}

// A record that could not be saved: a unit whose part carried effects
// crashes; one whose part was its record alone keeps running and asks
// for the save again.
func TestSaveFailed(t *testing.T) {
	r := newReadyRig(t)
	r.unit("kv").MarkModified()
	r.hosts["srv"].Touch("kv")
	rd := r.hosts["srv"].Ready()
	if len(rd.Units) != 1 || rd.Units[0].Save == nil || rd.Units[0].effects() {
		t.Fatalf("ready %+v: want kv's record alone", rd)
	}
	r.hosts["srv"].SaveFailed(rd.Units[0])
	if r.unit("kv") == nil || !r.hosts["srv"].HasReady() {
		t.Fatal("a unit whose record alone failed crashed, or no longer asks for its save")
	}
	r.unit("kv").Checkpoint()
	r.hosts["srv"].Touch("kv")
	rd = r.hosts["srv"].Ready()
	if len(rd.Units) != 1 || !rd.Units[0].effects() {
		t.Fatalf("ready %+v: want kv's commit", rd)
	}
	r.hosts["srv"].SaveFailed(rd.Units[0])
	if r.unit("kv") != nil {
		t.Fatal("a unit whose commit was not saved kept running")
	}
}

// The hot path: a call that ends in a Running RU whose dependencies and
// write-ahead record are durable already asks for nothing (the second
// call's write-ahead save holds the call record; nothing saved since).
func TestRepeatedCallNeedsNoReady(t *testing.T) {
	r := newReadyRig(t)
	r.update()
	r.update()
	app, kv := r.unit("app"), r.unit("kv")
	kv.Admit(1)
	app.OutCallStarted("kv")
	kv.MarkModified()
	kv.AddPred(app.ID())
	kv.AddSucc(app.ID())
	kv.CallEnded(1)
	app.AddPred(kv.ID())
	app.AddSucc(kv.ID())
	app.OutCallEnded("kv", app.ID())
	r.hosts["srv"].Touch("kv")
	r.hosts["app"].Touch("app")
	if r.hosts["srv"].HasReady() || r.hosts["app"].HasReady() {
		t.Fatal("a repeated call asked for a save, a message or an event")
	}
}

// TestReadyAllocatesOnlyItsParts pins the cost of a Ready on the hot path
// (every step of every host): a round with nothing to hand out allocates
// nothing, and one with parts allocates only the slice that holds them,
// sized once.
func TestReadyAllocatesOnlyItsParts(t *testing.T) {
	h := NewHost(HostConfig{Name: "rvm", Store: NewMemStore(),
		HostOf: func(string) string { return "rvm" }})
	names := []string{"data", "stack", "heap", "code"}
	for _, n := range names {
		h.Add(n, false)
	}
	h.Advance(h.Ready()) // the first records
	clean := testing.AllocsPerRun(100, func() {
		for _, n := range names {
			h.Touch(n) // stepped, but nothing changed
		}
		if rd := h.Ready(); len(rd.Units) != 0 {
			t.Fatalf("clean units: %d parts, want none", len(rd.Units))
		}
	})
	if clean != 0 {
		t.Errorf("a Ready with nothing to hand out allocates %v times, want 0", clean)
	}
	dirty := testing.AllocsPerRun(100, func() {
		for _, n := range names {
			h.Touch(n)
			h.Unit(n).dirty = true
		}
		if rd := h.Ready(); len(rd.Units) != len(names) {
			t.Fatalf("dirty units: %d parts, want %d", len(rd.Units), len(names))
		}
	})
	if dirty != 1 {
		t.Errorf("a Ready of %d parts allocates %v times, want 1 (its Units)", len(names), dirty)
	}
}

// TestPackBatchesPerHost: batching packs a part's messages into one
// envelope per destination host, in the order the hosts first appear and
// the messages were sent, each batch allocated at its final size; an
// envelope of an earlier part still takes the later part's messages.
func TestPackBatchesPerHost(t *testing.T) {
	hostOf := map[string]string{"app": "app", "data": "rvm", "stack": "rvm", "heap": "rvm"}
	h := NewHost(HostConfig{Name: "x", Batch: true, HostOf: func(u string) string { return hostOf[u] }})
	msg := func(to string) Msg { return Msg{Kind: MsgBuild, To: ID{Name: to, Inc: 1}} }
	envs := h.Pack(nil, []Msg{msg("data"), msg("app"), msg("stack"), msg("heap")})
	envs = h.Pack(envs, []Msg{msg("app")})
	want := []struct {
		to    string
		units []string
	}{{"rvm", []string{"data", "stack", "heap"}}, {"app", []string{"app", "app"}}}
	if len(envs) != len(want) {
		t.Fatalf("%d envelopes, want %d", len(envs), len(want))
	}
	for i, w := range want {
		e := envs[i]
		var got []string
		for _, m := range e.Msgs {
			got = append(got, m.To.Name)
		}
		if e.From != "x" || e.To != w.to || !slices.Equal(got, w.units) {
			t.Errorf("envelope %d: %s→%s %v, want x→%s %v", i, e.From, e.To, got, w.to, w.units)
		}
	}
	if e := envs[0]; cap(e.Msgs) != len(e.Msgs) {
		t.Errorf("batch of %d messages has capacity %d: grown, not sized once", len(e.Msgs), cap(e.Msgs))
	}
}
