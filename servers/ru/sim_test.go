package ru

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"testing"
)

// simConfig shapes one randomized run.
type simConfig struct {
	Hosts, Users, Servers int
	Steps                 int     // random steps before settling
	Drop, Dup             float64 // per envelope
	Crash                 float64 // per step: crash a random unit
	FailPoint             float64 // per flushed unit: crash at a persist failpoint
	Batch                 bool
	ThreePhase            bool // the two-phase path of §8.2.1 off
}

type simCall struct {
	id             uint64
	client, server string
	clientRU       ID
	clientU        *Unit
	serverRU       ID
	serverU        *Unit
	op             Op
	req            string
	open           bool
	outer          *simCall // the served call that issued this nested call
	nested         *simCall
}

// sim is a deterministic simulation of recovery units over hosts with a
// faulty network, random calls, checkpoints and crashes.
type sim struct {
	cfg     simConfig
	rng     *rand.Rand
	hosts   map[string]*Host
	store   *MemStore // the records, written by execute
	hostOf  map[string]string
	names   []string
	users   []string
	servers []string
	net     []Envelope
	calls   []*simCall
	nextID  uint64
	down    map[string]int // crashed unit → steps until restart
	crashOK bool
	// oracle
	edges    map[[2]ID]bool // pred → succ, as the rules created them
	outcome  map[ID]Outcome
	logs     map[string]*srvLog
	userReq  map[string]string // user → request awaiting a successful reply
	userSeq  map[string]int
	inflight map[string]bool // user has a top-level call in progress
	msgs     int
	kinds    map[Kind]int // protocol messages delivered, by kind
	twoPhase int          // acks of members that precommitted at a two-phase build
	fellBack int          // two-phase builds answered three-phase
	err      error        // a protocol message with no destination
	trace    []string
}

type srvLog struct{ committed, volatile []string }

func newSim(seed uint64, cfg simConfig) *sim {
	s := &sim{cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		hosts: map[string]*Host{}, hostOf: map[string]string{}, down: map[string]int{},
		edges: map[[2]ID]bool{}, outcome: map[ID]Outcome{}, logs: map[string]*srvLog{},
		kinds: map[Kind]int{}, userReq: map[string]string{}, userSeq: map[string]int{}, inflight: map[string]bool{}, crashOK: true}
	store := NewMemStore()
	for i := 0; i < cfg.Hosts; i++ {
		h := fmt.Sprintf("h%d", i)
		s.hosts[h] = NewHost(HostConfig{Name: h, Store: store, Batch: cfg.Batch, Unit: Config{ThreePhase: cfg.ThreePhase},
			HostOf: func(u string) string { return s.hostOf[u] }})
	}
	s.store = store
	for i := 0; i < cfg.Users+cfg.Servers; i++ {
		name := fmt.Sprintf("u%d", i)
		if i >= cfg.Users {
			name = fmt.Sprintf("s%d", i-cfg.Users)
			s.servers = append(s.servers, name)
			s.logs[name] = &srvLog{}
		} else {
			s.users = append(s.users, name)
		}
		h := fmt.Sprintf("h%d", s.rng.IntN(cfg.Hosts))
		s.hostOf[name] = h
		s.names = append(s.names, name)
		s.hosts[h].Add(name, i >= cfg.Users)
	}
	return s
}

func (s *sim) failpoint(point, unit string) bool {
	return s.crashOK && s.rng.Float64() < s.cfg.FailPoint
}

// persist runs the Ready of name's host at once, with no crash point: the
// write-ahead save of the call path, durable before the call goes on.
func (s *sim) persist(name string) {
	s.touch(name)
	s.collect(execute(s.hosts[s.hostOf[name]], s.store, nil))
}

// collect puts a Ready's envelopes into the network and its events into the oracle.
func (s *sim) collect(envs []Envelope, evs []Event) {
	for _, ev := range evs {
		s.record(ev)
	}
	for _, e := range envs {
		if s.hosts[e.To] == nil && s.err == nil {
			s.err = fmt.Errorf("message to no unit: %v", e.Msgs)
			continue
		}
		s.msgs++
		s.net = append(s.net, e)
	}
}

func (s *sim) unit(name string) *Unit { return s.hosts[s.hostOf[name]].Unit(name) }

func (s *sim) touch(name string) { s.hosts[s.hostOf[name]].Touch(name) }

func (s *sim) sortedHosts() []string {
	hs := make([]string, 0, len(s.hosts))
	for h := range s.hosts {
		hs = append(hs, h)
	}
	sort.Strings(hs)
	return hs
}

// flush collects every host's output into the network and the oracle.
func (s *sim) flush() {
	for _, h := range s.sortedHosts() {
		s.collect(execute(s.hosts[h], s.store, s.failpoint))
	}
	for name := range s.down {
		if s.unit(name) != nil {
			delete(s.down, name)
		}
	}
	for _, h := range s.sortedHosts() {
		for _, n := range s.names {
			if s.hostOf[n] == h && s.hosts[h].Unit(n) == nil {
				if _, ok := s.down[n]; !ok {
					s.down[n] = s.rng.IntN(20)
				}
			}
		}
	}
}

func (s *sim) record(ev Event) {
	s.trace = append(s.trace, fmt.Sprintf("event %s %s %s", ev.Outcome, ev.RU, ev.Action))
	if ev.Outcome == Cancelled {
		return
	}
	if prev, ok := s.outcome[ev.RU]; ok {
		s.outcome[ev.RU] = 99 // double ending: reported by check
		_ = prev
		return
	}
	s.outcome[ev.RU] = ev.Outcome
	if l := s.logs[ev.RU.Name]; l != nil {
		if ev.Outcome == Committed {
			l.committed = append(l.committed, l.volatile...)
		}
		l.volatile = nil
	}
}

func (s *sim) deliverOne(faults bool) {
	i := s.rng.IntN(len(s.net))
	e := s.net[i]
	s.net = append(s.net[:i], s.net[i+1:]...)
	if faults && s.rng.Float64() < s.cfg.Drop {
		return
	}
	if faults && s.rng.Float64() < s.cfg.Dup {
		s.net = append(s.net, e)
	}
	for _, m := range e.Msgs {
		s.kinds[m.Kind]++
		if m.Kind == MsgBuildReply && m.TwoPhase {
			s.twoPhase++
		}
		if m.Kind == MsgBuildReply && m.Reply == ReplyThreePhase {
			s.fellBack++
		}
		s.trace = append(s.trace, "msg "+m.String())
	}
	s.hosts[e.To].Deliver(e)
}

func (s *sim) tick() {
	for _, h := range s.sortedHosts() {
		s.hosts[h].Tick()
	}
	for name, n := range s.down {
		if n <= 0 {
			if _, err := s.hosts[s.hostOf[name]].Restart(name, s.logs[name] != nil); err == nil {
				s.trace = append(s.trace, "restart "+name)
			}
			continue
		}
		s.down[name] = n - 1
	}
}

func (s *sim) crash(name string) {
	if s.unit(name) == nil {
		return
	}
	s.trace = append(s.trace, "crash "+name)
	s.hosts[s.hostOf[name]].Crash(name)
	s.down[name] = s.rng.IntN(20)
}

// startCall begins a top-level call from a running user.
func (s *sim) startCall() {
	user := s.users[s.rng.IntN(len(s.users))]
	u := s.unit(user)
	if u == nil || u.Phase() != Running || s.inflight[user] {
		return
	}
	req := s.userReq[user]
	if req == "" || !strings.HasPrefix(req, u.ID().String()+"/") {
		s.userSeq[user]++
		req = fmt.Sprintf("%s/%d", u.ID(), s.userSeq[user])
		s.userReq[user] = req
	}
	s.inflight[user] = true
	s.newCall(&simCall{client: user, clientU: u, server: s.servers[s.rng.IntN(len(s.servers))], req: req})
}

// newCall starts call c (client, clientU, server, req and outer set): an
// id, a random attribute, and the write-ahead record made durable.
func (s *sim) newCall(c *simCall) *simCall {
	s.nextID++
	c.id, c.clientRU, c.op = s.nextID, c.clientU.ID(), Read
	if s.rng.IntN(2) == 0 {
		c.op = Update
	}
	c.clientU.OutCallStarted(c.server)
	s.persist(c.client)
	if st, err := s.store.Load(c.client); (err != nil || st.Calling[c.server] == 0) && s.err == nil {
		s.err = fmt.Errorf("%s's call to %s left before its write-ahead record was durable", c.client, c.server)
	}
	s.calls = append(s.calls, c)
	return c
}

// progressCall admits, nests or ends one random call.
func (s *sim) progressCall(allowNew bool) {
	c := s.calls[s.rng.IntN(len(s.calls))]
	if !c.open {
		s.admit(c)
		return
	}
	if c.nested != nil {
		return
	}
	if allowNew && c.outer == nil && s.rng.IntN(3) == 0 {
		other := s.servers[s.rng.IntN(len(s.servers))]
		if other != c.server && c.serverU == s.unit(c.server) {
			c.nested = s.newCall(&simCall{client: c.server, clientU: c.serverU, server: other,
				req: fmt.Sprintf("%s/n%d", c.req, s.nextID), outer: c})
			return
		}
	}
	s.endCall(c)
}

func (s *sim) admit(c *simCall) {
	su := s.unit(c.server)
	if su == nil {
		if s.rng.IntN(4) == 0 {
			s.failCall(c) // dead port: the client will retry
		}
		return
	}
	s.touch(c.server)
	if su.Admit(c.id) == Serve {
		s.trace = append(s.trace, fmt.Sprintf("call-admit %d %s→%s(%s) phase=%s", c.id, c.client, c.server, su.ID(), su.Phase()))
		c.open, c.serverRU, c.serverU = true, su.ID(), su
	}
}

func (s *sim) failCall(c *simCall) {
	s.removeCall(c)
	s.clientDone(c)
}

func (s *sim) clientDone(c *simCall) {
	if c.clientU == s.unit(c.client) {
		c.clientU.OutCallEnded(c.server, c.clientRU)
		s.touch(c.client)
	}
	if c.outer != nil {
		c.outer.nested = nil
	} else {
		s.inflight[c.client] = false
	}
}

func (s *sim) removeCall(c *simCall) {
	for i, x := range s.calls {
		if x == c {
			s.calls = append(s.calls[:i], s.calls[i+1:]...)
			return
		}
	}
}

// endCall executes the operation at the server (with its duplicate table)
// and records the dependencies of this call level (§4.1).
func (s *sim) endCall(c *simCall) {
	s.removeCall(c)
	su := s.unit(c.server)
	alive := su != nil && su == c.serverU && su.ID() == c.serverRU
	if c.serverU != nil && c.serverU == su {
		defer s.touch(c.server)
		defer su.CallEnded(c.id) // after the dependencies: §4.1, prior to the return
	}
	if !alive {
		s.clientDone(c) // failed: a user retries the same request later
		return
	}
	deps := CallDeps(c.op, su.State().Modified)
	s.trace = append(s.trace, fmt.Sprintf("call-end %d %s(%s)→%s(%s) %s deps=%+v server-phase=%s", c.id, c.client, c.clientRU, c.server, c.serverRU, c.op, deps, su.Phase()))
	if c.op == Update {
		s.execute(c, su)
	}
	cu := s.unit(c.client)
	clientAlive := cu != nil && cu == c.clientU && cu.ID() == c.clientRU
	if !clientAlive {
		cu = nil
	}
	s.applyDeps(c, deps, su, cu)
	s.persist(c.server) // the server records the dependency before replying
	if clientAlive && s.crashOK && s.rng.Float64() < s.cfg.FailPoint*20 {
		s.crash(c.client) // the reply arrives but the client dies before recording it
		clientAlive = false
	}
	if clientAlive {
		s.persist(c.client)
	}
	if clientAlive && c.outer == nil {
		s.userReq[c.client] = ""
	}
	s.clientDone(c)
}

func (s *sim) execute(c *simCall, su *Unit) {
	l := s.logs[c.server]
	for _, r := range append(append([]string{}, l.committed...), l.volatile...) {
		if r == c.req {
			return // duplicate table: answered from the saved reply
		}
	}
	l.volatile = append(l.volatile, c.req)
	su.MarkModified()
}

// applyDeps records the dependencies of call c at server unit su and, when
// it is still alive (non-nil), client unit cu.
func (s *sim) applyDeps(c *simCall, d Deps, su, cu *Unit) {
	clientAlive := cu != nil
	if d.ServerToClient && clientAlive {
		s.edges[[2]ID{c.serverRU, c.clientRU}] = true
		cu.AddPred(c.serverRU)
		su.AddSucc(c.clientRU)
		s.touch(c.client)
	}
	if d.ClientToServer {
		s.edges[[2]ID{c.clientRU, c.serverRU}] = true
		su.AddPred(c.clientRU)
		if clientAlive {
			cu.AddSucc(c.serverRU)
			s.touch(c.client)
		} else { // the update came from an RU that is gone: the server must abort
			su.Step(Msg{Kind: MsgAbort, From: c.clientRU, To: c.serverRU})
		}
	}
}

func (s *sim) randomStep() {
	switch r := s.rng.IntN(100); {
	case r < 45 && len(s.net) > 0:
		s.deliverOne(true)
	case r < 60:
		s.tick()
	case r < 72:
		s.startCall()
	case r < 88 && len(s.calls) > 0:
		s.progressCall(true)
	case r < 93:
		name := s.names[s.rng.IntN(len(s.names))]
		if u := s.unit(name); u != nil {
			u.Checkpoint()
			s.touch(name)
		}
	default:
		if s.rng.Float64() < s.cfg.Crash*10 {
			s.crash(s.names[s.rng.IntN(len(s.names))])
		}
	}
	s.flush()
}

// settle runs with no new crash, call or checkpoint until every unit is
// idle, or reports that it did not within bound steps.
func (s *sim) settle(bound int) error {
	s.crashOK = false
	for i := 0; i < bound; i++ {
		if s.idle() {
			return nil
		}
		// A fair network: what is sent is delivered before the next timeout
		// fires, except now and then (a timeout racing a slow message).
		switch r := s.rng.IntN(50); {
		case r == 0:
			s.tick()
		case len(s.calls) > 0 && r < 10:
			s.progressCall(false)
		case len(s.net) > 0:
			s.deliverOne(false)
		case len(s.calls) > 0:
			s.progressCall(false)
		default:
			s.tick()
		}
		s.flush()
	}
	return fmt.Errorf("no progress after %d settle steps:\n%s", bound, s.dump())
}

func (s *sim) idle() bool {
	if len(s.net) > 0 || len(s.calls) > 0 || len(s.down) > 0 {
		return false
	}
	for _, n := range s.names {
		u := s.unit(n)
		if u == nil {
			return false
		}
		st := u.State()
		if st.Phase != Running || st.Want || len(st.AbortWait) > 0 || len(st.Done) > 0 {
			return false
		}
	}
	return true
}

func (s *sim) dump() string {
	var b strings.Builder
	for _, n := range s.names {
		u := s.unit(n)
		if u == nil {
			fmt.Fprintf(&b, "%s down\n", n)
			continue
		}
		st := u.State()
		fmt.Fprintf(&b, "%s %s act=%s parent=%s root=%v acked=%v joining=%s children=%v touched=%v absorbed=%v settled=%v pc=%v want=%v grants=%v auth=%v done=%v open=%d/%d\n",
			u.ID(), st.Phase, st.Act, st.Parent, st.Root, st.Acked, st.Joining, st.Children,
			st.Touched.list(), st.Absorbed.list(), st.Settled.list(), st.PCWait.list(), st.Want, st.Grants, st.Auth, st.Done, u.openIn, u.openOu)
	}
	for _, c := range s.calls {
		fmt.Fprintf(&b, "call %d %s→%s open=%v nested=%v\n", c.id, c.client, c.server, c.open, c.nested != nil)
	}
	tail := s.trace
	if len(tail) > 60 && os.Getenv("FTM_TRACE") == "" {
		tail = tail[len(tail)-60:]
	}
	b.WriteString(strings.Join(tail, "\n"))
	return b.String()
}

// check verifies consistency and at-most-once after a settled run.
func (s *sim) check() error {
	for ru, o := range s.outcome {
		if o == 99 {
			return fmt.Errorf("%s ended twice", ru)
		}
	}
	for e := range s.edges {
		p, q := e[0], e[1]
		if s.outcome[q] == Committed && s.outcome[p] != Committed {
			return fmt.Errorf("closure: %s committed but its predecessor %s is %s", q, p, s.outcome[p])
		}
		if s.outcome[p] == Aborted && s.outcome[q] != Aborted {
			return fmt.Errorf("orphan: %s survives (%s) but its predecessor %s aborted", q, s.outcome[q], p)
		}
	}
	for name, l := range s.logs {
		seen := map[string]bool{}
		for _, r := range append(append([]string{}, l.committed...), l.volatile...) {
			if seen[r] {
				return fmt.Errorf("at-most-once: %s executed %s twice", name, r)
			}
			seen[r] = true
		}
	}
	return nil
}

func runSim(seed uint64, cfg simConfig) (*sim, error) {
	s := newSim(seed, cfg)
	for i := 0; i < cfg.Steps && s.err == nil; i++ {
		s.randomStep()
	}
	if s.err != nil {
		return s, s.err
	}
	if err := s.settle(40000); err != nil || s.err != nil {
		return s, errors.Join(err, s.err)
	}
	return s, s.check()
}

func simConfigs() []simConfig {
	return []simConfig{
		{Hosts: 3, Users: 3, Servers: 4, Steps: 300, Drop: 0.05, Dup: 0.05, Crash: 0.01, FailPoint: 0.002, Batch: true},
		{Hosts: 2, Users: 2, Servers: 3, Steps: 200, Batch: false},
		{Hosts: 4, Users: 4, Servers: 5, Steps: 400, Drop: 0.1, Dup: 0.1, Crash: 0.02, FailPoint: 0.005, Batch: true},
	}
}

// simConfigFor picks the configuration of a seed: the three shapes in
// turn, and one run in four on the general three-phase path only.
func simConfigFor(seed uint64) simConfig {
	cfgs := simConfigs()
	cfg := cfgs[int(seed)%len(cfgs)]
	cfg.ThreePhase = (seed/uint64(len(cfgs)))%4 == 3
	return cfg
}

func simRuns() int {
	if os.Getenv("FTM_SOAK") != "" {
		return 200000
	}
	if testing.Short() {
		return 300
	}
	return 3000
}

// TestSimRandomSchedules runs random call graphs, concurrent initiators,
// crashes at random protocol steps and a lossy network, then checks no
// orphans, closure of every commit, progress and at-most-once execution.
// Reference: §4.1, §4.2, §4.2.4.
func TestSimRandomSchedules(t *testing.T) {
	base := uint64(1)
	if v := os.Getenv("FTM_SEED"); v != "" {
		fmt.Sscan(v, &base)
	}
	if v := os.Getenv("FTM_SEED_BASE"); v != "" {
		fmt.Sscan(v, &base)
	}
	n := simRuns()
	if os.Getenv("FTM_SEED") != "" {
		n = 1
	}
	var commits, aborts, twoPhase, fellBack int
	kinds := map[Kind]int{}
	for i := 0; i < n; i++ {
		seed := base + uint64(i)
		s, err := runSim(seed, simConfigFor(seed))
		if err != nil {
			if os.Getenv("FTM_TRACE") != "" {
				t.Log(strings.Join(s.trace, "\n"))
			}
			t.Fatalf("seed %d (rerun: FTM_SEED=%d go test -run TestSimRandomSchedules ./servers/ru): %v", seed, seed, err)
		}
		for k, c := range s.kinds {
			kinds[k] += c
		}
		twoPhase, fellBack = twoPhase+s.twoPhase, fellBack+s.fellBack
		for _, o := range s.outcome {
			if o == Committed {
				commits++
			} else {
				aborts++
			}
		}
	}
	if commits == 0 || aborts == 0 {
		t.Fatalf("simulation exercised nothing: %d commits, %d aborts", commits, aborts)
	}
	for _, k := range []Kind{MsgAuthRq, MsgDone, MsgMerge, MsgAddDep, MsgAdopted, MsgResolved, MsgAbort, MsgQuery} {
		if kinds[k] == 0 && os.Getenv("FTM_SEED") == "" {
			t.Errorf("no %s message in %d schedules: that path is not exercised", k, n)
		}
	}
	if (twoPhase == 0 || fellBack == 0) && os.Getenv("FTM_SEED") == "" {
		t.Errorf("%d precommits at a two-phase build, %d fallbacks to three phases: §8.2.1's path is not exercised", twoPhase, fellBack)
	}
	t.Logf("%d schedules: %d RU commits, %d RU aborts; two-phase precommits %d, fallbacks %d; messages by kind: %v",
		n, commits, aborts, twoPhase, fellBack, kinds)
}

// TestSimRegressionSeeds replays schedules the soak once failed on (stale
// links forming cycles, leaked grants, lost write-ahead records, overwritten
// abort edges, a lost Adopted), on the general path they were found on
// and with the two-phase path of §8.2.1 on. Reference: §4.2.3, §4.2.4.
func TestSimRegressionSeeds(t *testing.T) {
	cfgs := simConfigs()
	for _, seed := range []uint64{2, 9, 26, 291, 312, 480, 423, 929, 1619, 2609, 6126, 100280,
		116864, 122285, 127851, 149549, 172992, 185230} {
		for _, threePhase := range []bool{true, false} {
			cfg := cfgs[int(seed)%len(cfgs)]
			cfg.ThreePhase = threePhase
			if _, err := runSim(seed, cfg); err != nil {
				t.Fatalf("seed %d (three-phase only: %v): %v", seed, threePhase, err)
			}
		}
	}
}
