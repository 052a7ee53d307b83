package ru

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// goldenEnv drives units step by step for the data-driven figure tests.
// Envelopes are delivered in FIFO order; every message is printed.
type goldenEnv struct {
	hosts  map[string]*Host
	stores map[string]*MemStore // each host's records, written by execute
	hostOf map[string]string
	order  []string // units in creation order
	net    []Envelope
	calls  map[string]*goldenCall
	nextID uint64
	out    strings.Builder
	batch  bool
	ucfg   Config // every host's unit configuration (set before the first unit)
}

type goldenCall struct {
	id             uint64
	client, server string
	op             Op
	open           bool
}

func newGoldenEnv() *goldenEnv {
	return &goldenEnv{hosts: map[string]*Host{}, stores: map[string]*MemStore{}, hostOf: map[string]string{}, calls: map[string]*goldenCall{}, batch: true}
}

func (e *goldenEnv) host(name string) *Host {
	h, ok := e.hosts[name]
	if !ok {
		e.stores[name] = NewMemStore()
		h = NewHost(HostConfig{Name: name, Store: e.stores[name], Batch: e.batch, Unit: e.ucfg,
			HostOf: func(u string) string { return e.hostOf[u] }})
		e.hosts[name] = h
	}
	return h
}

func (e *goldenEnv) unit(name string) *Unit { return e.hosts[e.hostOf[name]].Unit(name) }

func (e *goldenEnv) printf(format string, args ...any) { fmt.Fprintf(&e.out, format+"\n", args...) }

func (e *goldenEnv) flush() {
	names := make([]string, 0, len(e.hosts))
	for n := range e.hosts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		envs, evs := execute(e.hosts[n], e.stores[n], nil)
		for _, ev := range evs {
			e.printf("  event: %s %s (action %s)", ev.RU, ev.Outcome, ev.Action)
		}
		e.net = append(e.net, envs...)
	}
}

func (e *goldenEnv) deliver() {
	env := e.net[0]
	e.net = e.net[1:]
	e.printf("%s → %s:", env.From, env.To)
	for _, m := range env.Msgs {
		e.printf("  %s", m)
	}
	e.hosts[env.To].Deliver(env)
	e.flush()
}

func (e *goldenEnv) run(t *testing.T, d *datadriven.TestData) string {
	e.out.Reset()
	switch d.Cmd {
	case "protocol":
		e.cmdProtocol(t, d)
	case "unit":
		e.cmdUnit(t, d)
	case "begin":
		e.cmdBegin(t, d)
	case "admit":
		e.cmdAdmit(d.CmdArgs[0].Key)
	case "end":
		e.cmdEnd(t, d.CmdArgs[0].Key)
	case "call":
		e.cmdCall(t, d)
	case "checkpoint":
		for _, a := range d.CmdArgs {
			e.unit(a.Key).Checkpoint()
			e.host(e.hostOf[a.Key]).Touch(a.Key)
		}
		e.flush()
	case "deliver":
		if d.HasArg("from") {
			e.cmdDeliverFrom(t, d)
			break
		}
		n := 1
		if len(d.CmdArgs) > 0 {
			d.ScanArgs(t, "n", &n)
		}
		for i := 0; i < n && len(e.net) > 0; i++ {
			e.deliver()
		}
	case "stabilize":
		for len(e.net) > 0 {
			e.deliver()
		}
	case "drop":
		e.printf("dropped %s → %s (%d msgs)", e.net[0].From, e.net[0].To, len(e.net[0].Msgs))
		e.net = e.net[1:]
	case "tick":
		e.cmdTick(t, d)
	case "crash":
		e.hosts[e.hostOf[d.CmdArgs[0].Key]].Crash(d.CmdArgs[0].Key)
	case "restart":
		if _, err := e.hosts[e.hostOf[d.CmdArgs[0].Key]].Restart(d.CmdArgs[0].Key, false); err != nil {
			t.Fatal(err)
		}
		e.flush()
	case "state":
		e.cmdState()
	default:
		t.Fatalf("unknown command %q", d.Cmd)
	}
	return e.out.String()
}

// cmdProtocol chooses the checkpoint path before the first unit:
// "protocol three-phase" turns the two-phase path (§8.2.1) off, as the
// paper's figures of §4.2 run.
func (e *goldenEnv) cmdProtocol(t *testing.T, d *datadriven.TestData) {
	if len(e.hosts) > 0 || len(d.CmdArgs) != 1 {
		t.Fatalf("protocol takes one argument and comes before the first unit")
	}
	switch d.CmdArgs[0].Key {
	case "three-phase":
		e.ucfg.ThreePhase = true
	case "two-phase":
		e.ucfg.ThreePhase = false
	default:
		t.Fatalf("unknown protocol %q", d.CmdArgs[0].Key)
	}
}

// cmdDeliverFrom delivers the first envelope from one host to another, out
// of FIFO order (a delay of the others).
func (e *goldenEnv) cmdDeliverFrom(t *testing.T, d *datadriven.TestData) {
	var from, to string
	d.ScanArgs(t, "from", &from)
	d.ScanArgs(t, "to", &to)
	for i, env := range e.net {
		if env.From == from && env.To == to {
			e.net = append(append([]Envelope{env}, e.net[:i]...), e.net[i+1:]...)
			e.deliver()
			return
		}
	}
	t.Fatalf("no envelope %s → %s in flight", from, to)
}

func (e *goldenEnv) cmdUnit(t *testing.T, d *datadriven.TestData) {
	h := d.CmdArgs[0].Key
	if d.HasArg("host") {
		d.ScanArgs(t, "host", &h)
	}
	e.hostOf[d.CmdArgs[0].Key] = h
	e.order = append(e.order, d.CmdArgs[0].Key)
	e.host(h).Add(d.CmdArgs[0].Key, false)
}

func (e *goldenEnv) cmdBegin(t *testing.T, d *datadriven.TestData) {
	var client, server, op string
	d.ScanArgs(t, "client", &client)
	d.ScanArgs(t, "server", &server)
	d.ScanArgs(t, "op", &op)
	e.nextID++
	c := &goldenCall{id: e.nextID, client: client, server: server, op: Read}
	if op == "update" {
		c.op = Update
	}
	e.calls[d.CmdArgs[0].Key] = c
	e.unit(client).OutCallStarted(server)
	e.host(e.hostOf[client]).Touch(client)
	e.cmdAdmit(d.CmdArgs[0].Key)
}

func (e *goldenEnv) cmdAdmit(name string) {
	c := e.calls[name]
	if e.unit(c.server).Admit(c.id) == Serve {
		c.open = true
		e.printf("%s: %s serves %s's %s", name, c.server, c.client, c.op)
	} else {
		e.printf("%s: %s defers %s's %s (waits for authorization or commit)", name, c.server, c.client, c.op)
	}
	e.host(e.hostOf[c.server]).Touch(c.server)
	e.flush()
}

// cmdEnd returns from an open call: the dependency of this call level is
// added to both graphs before the return (§4.1).
func (e *goldenEnv) cmdEnd(t *testing.T, name string) {
	c := e.calls[name]
	if !c.open {
		t.Fatalf("call %s is not being served", name)
	}
	su, cu := e.unit(c.server), e.unit(c.client)
	cru := cu.ID()
	deps := CallDeps(c.op, su.State().Modified)
	if c.op == Update {
		su.MarkModified()
	}
	if deps.ServerToClient {
		cu.AddPred(su.ID())
		su.AddSucc(cu.ID())
	}
	if deps.ClientToServer {
		su.AddPred(cu.ID())
		cu.AddSucc(su.ID())
	}
	e.printf("%s: %s %s %s returns: %s", name, c.client, c.op, c.server, depString(deps, c))
	su.CallEnded(c.id)
	cu.OutCallEnded(c.server, cru)
	e.host(e.hostOf[c.server]).Touch(c.server)
	e.host(e.hostOf[c.client]).Touch(c.client)
	delete(e.calls, name)
	e.flush()
}

func depString(d Deps, c *goldenCall) string {
	var s []string
	if d.ServerToClient {
		s = append(s, c.server+" → "+c.client)
	}
	if d.ClientToServer {
		s = append(s, c.client+" → "+c.server)
	}
	if len(s) == 0 {
		return "no dependency"
	}
	return "dependency " + strings.Join(s, ", ")
}

func (e *goldenEnv) cmdCall(t *testing.T, d *datadriven.TestData) {
	e.cmdBegin(t, d)
	e.cmdEnd(t, d.CmdArgs[0].Key)
}

func (e *goldenEnv) cmdTick(t *testing.T, d *datadriven.TestData) {
	n := 1
	if len(d.CmdArgs) > 0 {
		d.ScanArgs(t, "n", &n)
	}
	for i := 0; i < n; i++ {
		for _, h := range e.hosts {
			h.Tick()
		}
	}
	e.flush()
}

func (e *goldenEnv) cmdState() {
	for _, n := range e.order {
		u := e.unit(n)
		if u == nil {
			e.printf("%s: down", n)
			continue
		}
		st := u.State()
		line := fmt.Sprintf("%s: %s", u.ID(), st.Phase)
		if st.Phase != Running {
			line += fmt.Sprintf(" action=%s root=%v parent=%s", st.Act, st.Root, st.Parent)
		}
		e.printf("%s preds=%v succs=%v", line, st.Preds.list(), st.Succs.list())
	}
}

func runGolden(t *testing.T, file string) {
	e := newGoldenEnv()
	datadriven.RunTest(t, "testdata/"+file, func(t *testing.T, d *datadriven.TestData) string {
		return e.run(t, d)
	})
}

// TestFig7ConsistentSetJoinsClients: a read of persistent state creates no
// dependency, an update both directions, a read of modified state server →
// client; the server's checkpoint commits client a, client b and itself.
// Reference: §4.2, Figure 7.
func TestFig7ConsistentSetJoinsClients(t *testing.T) { runGolden(t, "fig7_consistent_set.txt") }

// TestFig8ChasingCompletesNestedCall: a server already acknowledged keeps
// serving under the initiator's authorization; the nested update it makes
// adds a dependency that joins the action directly.
// Reference: §4.2.2, Figure 8.
func TestFig8ChasingCompletesNestedCall(t *testing.T) { runGolden(t, "fig8_chasing.txt") }

// TestFig9MergeTwoInitiators: two initiators meet at a shared predecessor;
// the larger UID loses initiator status and joins the smaller with
// add_dependency. Reference: §4.2.3, Figure 9.
func TestFig9MergeTwoInitiators(t *testing.T) { runGolden(t, "fig9_merge.txt") }

// TestFig10ConcurrentMerges: three initiators merge concurrently; merge and
// add_dependency messages are forwarded to the current initiator.
// Reference: §4.2.3, Figure 10.
func TestFig10ConcurrentMerges(t *testing.T) { runGolden(t, "fig10_concurrent_merge.txt") }

// TestSec821TwoPhaseCheckpoint: an initiator that stopped before its
// servers builds and precommits in one wave; the 4-RU checkpoint takes three
// envelopes. "execution of the checkpoint protocol in two phases when all
// application processes have been stopped before servers."
// Reference: §8.2.1.
func TestSec821TwoPhaseCheckpoint(t *testing.T) { runGolden(t, "sec8_2_1_two_phase.txt") }

// TestSec821FallsBackToThreePhases: a predecessor with its own
// predecessors to chase, or with a call in progress, answers the two-phase
// build with three-phase; the initiator cancels the attempt (the others
// withdraw their precommits) and runs the general path at once.
// Reference: §8.2.1, §4.2.2.
func TestSec821FallsBackToThreePhases(t *testing.T) { runGolden(t, "sec8_2_1_fallback.txt") }

// TestSec821CrashOnTwoPhasePath: a segment precommitted at the build that
// crashes waits for the decision and asks for it; an initiator that
// crashes before deciding aborts, and its segments withdraw and abort.
// Reference: §8.2.1, §4.2.4.
func TestSec821CrashOnTwoPhasePath(t *testing.T) { runGolden(t, "sec8_2_1_crash.txt") }

// TestCrashRecoveryWaves: a unit crashing in phase 1 cancels the action and
// aborts its successors; a precommitted unit that crashes waits for the
// initiator's decision; a lost wave is resent after a timeout and the
// duplicate re-acknowledged. Reference: §4.2.4.
func TestCrashRecoveryWaves(t *testing.T) { runGolden(t, "crash_recovery.txt") }
