package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/internal/takeoverid"
	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/node/control"
	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/stm"
)

// Reliable servers on a pair node (the servers framework on a stable pair): for
// every STM bank the node holds as primary, and while that bank accepts
// commits (its backup is attached, or the group's lease lets it commit
// alone), the node runs a servers.Driver over a
// kernel task of its own, every registered server (BANK/NAME, Server)
// and an application recovery unit BANK/app that `ftmctl kv --from BANK`
// calls through. Their states live in the bank, so when the partner's bank is
// taken over its servers start again here from STM (restarted units abort
// the RU they were in, unless it was precommitted). A bank that refuses
// commits (no backup and no lease) has its servers stopped until it can
// commit again (after refusalGrace): a unit could save nothing. The node's
// stable tasks are recovery units on the same drivers (Driver, task.Units):
// they start their segments' pager servers there themselves, and ask for
// the driver at each checkpoint.

// refusalGraceWithLease is how long a bank held with the group's lease
// may refuse commits before its servers are stopped: the time its primary
// takes to record, through the group, that it lost its backup and to
// renew its lease (then it commits alone, and its units keep their RUs:
// only those that depended on the lost node abort, by the crash recovery
// wave of the units restarted on the taken-over bank). Without a group
// the grace is zero: a bank with no backup never commits.
const refusalGraceWithLease = 2 * time.Second

// ruTickPeriod is the drivers' protocol tick: unacknowledged protocol
// messages are resent after 4 ticks; nothing else waits for a tick.
const ruTickPeriod = 50 * time.Millisecond

// reliableHost is what runs for one bank.
type reliableHost struct {
	bank    string
	store   *stm.Bank
	task    *kernel.Task
	driver  *servers.Driver
	units   []*hostedServer // the registered servers, in registration order
	app     *servers.Client
	cancel  context.CancelFunc
	started time.Time
	down    sync.Once // teardown
}

// hostedServer is one registered server running for a bank.
type hostedServer struct {
	reg  *serverReg
	unit string // BANK/NAME
	svc  Service
	done chan error // its Run's result
}

// ended reports whether its Run has ended, and with which error.
func (s *hostedServer) ended() (bool, error) {
	select {
	case err := <-s.done:
		s.done <- err // for the next look and teardown
		return true, err
	default:
		return false, nil
	}
}

// reliableServers supervises the hosts of a node.
type reliableServers struct {
	node   string
	kernel *kernel.Node
	stable *pair.Stable
	log    *zap.Logger
	kick   chan struct{}

	mu      sync.Mutex               // guards the fields below
	hosts   map[string]*reliableHost // by bank
	waiting map[string]string        // bank → why its servers do not run
	ext     *externalClients         // the node's external clients (made on first use)
	closed  bool
	off     string // why this node runs no servers at all ("" when it does)
	// logCkpt records a checkpoint taken by ftmctl ckpt now RU (the node's ckpt log).
	logCkpt func(control.CkptEntry) control.CkptEntry
	regs    []*serverReg   // the registered servers each bank runs
	fail    failpoint.Hook // the drivers' failpoints (crash tests only; set before start)
	// refusalGrace: a host whose bank refuses commits is stopped once it
	// has refused for this long (set before start; refusalGraceWithLease).
	refusalGrace time.Duration

	// takeovers: bank → the id of the takeover whose servers have not run
	// yet; their first "reliable servers running" line carries it.
	takeovers map[string]string
}

func newReliableServers(node string, k *kernel.Node, log *zap.Logger, regs []*serverReg) *reliableServers {
	return &reliableServers{node: node, kernel: k, log: log.With(zap.String("part", "servers")),
		kick: make(chan struct{}, 1), hosts: map[string]*reliableHost{}, waiting: map[string]string{}, regs: regs}
}

// turnOff makes the node run no reliable servers at all, for the reason
// why (before start).
func (r *reliableServers) turnOff(why string) {
	r.mu.Lock()
	r.off = why
	r.mu.Unlock()
}

// start supervises the servers of the banks st holds until ctx ends or
// the returned function is called; that function returns once every host
// is stopped.
func (r *reliableServers) start(ctx context.Context, st *pair.Stable) func() {
	r.stable = st
	r.mu.Lock()
	off := r.off
	r.mu.Unlock()
	if off != "" {
		// A failpoint fires at the Nth hit of an STM commit step on either
		// node; the servers' own commits would move it off its target.
		r.log.Info("reliable servers off", zap.String("why", off))
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// deferGroups is the pair's StableConfig.Defer: of the groups a takeover
// of bank found in doubt, those a reliable server's unit owns (its S
// precommitted in a checkpoint, servers.PendingGroups) stay undecided in
// b: the driver started on b once it has a backup decides each as the
// checkpoint's initiator did, asking it when needed, so a checkpoint the
// initiator committed keeps the server's S. Other groups are presumed
// aborted. With the servers off nothing would decide them: none is kept.
func (r *reliableServers) deferGroups(ctx context.Context, bank string, b *stm.Bank, inDoubt []stm.GroupID) map[stm.GroupID]bool {
	r.mu.Lock()
	off := r.off
	r.mu.Unlock()
	if off != "" {
		return nil
	}
	keep, err := servers.PendingGroups(ctx, b, inDoubt)
	if err != nil {
		r.log.Warn("cannot read the servers' units of a taken-over bank; its in-doubt groups are presumed aborted",
			zap.String("bank", bank), zap.Error(err))
		return nil
	}
	if len(keep) > 0 {
		r.log.Info("in-doubt groups left to the reliable servers' restarted units", zap.String("bank", bank),
			zap.Int("groups", len(keep)), zap.Int("in_doubt", len(inDoubt)))
	}
	return keep
}

// tookOver notes that bank was taken over in the takeover id (logged with
// its servers' start) and pokes the supervisor.
func (r *reliableServers) tookOver(bank, id string) {
	r.mu.Lock()
	if r.takeovers == nil {
		r.takeovers = map[string]string{}
	}
	r.takeovers[bank] = id
	r.mu.Unlock()
	r.poke()
}

// takeoverOf is the log field of the takeover of bank whose servers now
// run (zap.Skip() when none), forgotten once returned.
func (r *reliableServers) takeoverOf(bank string) zap.Field {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := r.takeovers[bank]
	delete(r.takeovers, bank)
	return takeoverid.Of(id)
}

// poke makes the supervisor look at the banks now (after a takeover).
func (r *reliableServers) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// run starts and stops hosts as banks come, go and gain or lose their
// backup, until ctx ends; then it stops every host.
func (r *reliableServers) run(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	defer r.stopAll()
	for {
		r.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
		}
	}
}

// reconcile makes the running hosts match the banks this node holds as
// primary: it stops hosts whose bank is gone or refuses commits, then
// starts one for each held bank that has none.
func (r *reliableServers) reconcile(ctx context.Context) {
	held := map[string]pair.BankStatus{}
	for _, b := range r.stable.Status().Banks {
		if b.Role != pair.RoleBackup {
			held[b.Name] = b
		}
	}
	r.stopUnheld(held)
	names := make([]string, 0, len(held))
	for n := range held {
		names = append(names, n)
	}
	sort.Strings(names)
	r.mu.Lock()
	for n := range r.waiting {
		if _, ok := held[n]; !ok {
			delete(r.waiting, n)
		}
	}
	r.mu.Unlock()
	for _, name := range names {
		r.mu.Lock()
		running := r.hosts[name] != nil
		r.mu.Unlock()
		if running || ctx.Err() != nil {
			continue
		}
		if held[name].CommitsRefused {
			r.setWaiting(name, "no backup attached: the bank refuses commits")
			continue
		}
		b := r.stable.Bank(name)
		if b == nil {
			continue
		}
		if err := r.startHost(ctx, name, b); err != nil {
			r.setWaiting(name, err.Error())
			r.log.Warn("reliable servers not started", zap.String("bank", name), zap.Error(err))
		}
	}
}

// stopUnheld stops the hosts whose bank this node no longer holds (or
// holds anew), whose bank refuses commits, or one of whose servers ended
// on its own (reconcile starts them again).
func (r *reliableServers) stopUnheld(held map[string]pair.BankStatus) {
	r.mu.Lock()
	hosts := map[string]*reliableHost{}
	for k, h := range r.hosts {
		hosts[k] = h
	}
	r.mu.Unlock()
	for name, h := range hosts {
		b, ok := held[name]
		switch {
		case !ok || r.stable.Bank(name) != h.store:
			r.stop(h, "")
		case b.CommitsRefused && time.Since(b.MirrorSince) >= r.refusalGrace:
			r.stop(h, "no backup attached: the bank refuses commits")
		default:
			for _, u := range h.units {
				if ended, err := u.ended(); ended { // ended on its own: start it again
					r.log.Warn("reliable server ended; restarting it", zap.String("bank", name), zap.String("unit", u.unit), zap.Error(err))
					r.stop(h, "")
					break
				}
			}
		}
	}
}

func (r *reliableServers) setWaiting(bank, why string) {
	r.mu.Lock()
	r.waiting[bank] = why
	r.mu.Unlock()
}

// startHost runs the driver, the registered servers and the app unit of
// bank (restarted from their saved states when the bank has them).
func (r *reliableServers) startHost(ctx context.Context, bank string, b *stm.Bank) (err error) {
	log := r.log.With(zap.String("bank", bank))
	h := &reliableHost{bank: bank, store: b, started: time.Now()}
	defer func() {
		if err != nil {
			r.teardown(h)
		}
	}()
	if h.task, err = r.kernel.NewTask("servers/" + bank); err != nil {
		return err
	}
	ns := names.NewKernel(h.task, log)
	h.driver, err = servers.NewDriver(servers.DriverConfig{Host: bank, Task: h.task, Bank: b, Names: ns,
		TickPeriod: ruTickPeriod, Logger: log, Context: ctx, Fail: r.fail})
	if err != nil {
		return err
	}
	h.driver.Start()
	h.app, err = servers.NewClient(servers.ClientConfig{Name: appUnit(bank), Driver: h.driver, Logger: log, Retries: 20, Backoff: 20 * time.Millisecond})
	if err != nil {
		return fmt.Errorf("application unit %s: %w", appUnit(bank), err)
	}
	if err := r.startUnits(ctx, h, log); err != nil {
		return err
	}
	if err := waitServing(ctx, h); err != nil {
		return err
	}
	r.mu.Lock()
	r.hosts[bank] = h
	delete(r.waiting, bank)
	r.mu.Unlock()
	log.Info("reliable servers running", zap.Strings("units", h.unitNames()), r.takeoverOf(bank))
	return nil
}

// startUnits builds and runs the registered servers of h's bank.
func (r *reliableServers) startUnits(ctx context.Context, h *reliableHost, log *zap.Logger) error {
	uctx, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	for _, reg := range r.regs {
		unit := h.bank + "/" + reg.name
		svc, err := reg.mk(servers.Config{Name: unit, Driver: h.driver, Logger: log})
		if err != nil {
			return fmt.Errorf("server %s: %w", unit, err)
		}
		u := &hostedServer{reg: reg, unit: unit, svc: svc, done: make(chan error, 1)}
		h.units = append(h.units, u)
		go func() { u.done <- u.svc.Run(uctx) }()
	}
	return nil
}

// unitNames are the recovery units h runs: its servers, then BANK/app.
func (h *reliableHost) unitNames() []string {
	out := make([]string, 0, len(h.units)+1)
	for _, u := range h.units {
		out = append(out, u.unit)
	}
	return append(out, appUnit(h.bank))
}

// unit returns the server h runs as unit, or nil.
func (h *reliableHost) unit(unit string) *hostedServer {
	for _, u := range h.units {
		if u.unit == unit {
			return u
		}
	}
	return nil
}

// waitServing waits until every server's unit runs (or one's Run failed).
func waitServing(ctx context.Context, h *reliableHost) error {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		for _, u := range h.units {
			if ended, err := u.ended(); ended {
				if err == nil {
					err = errors.New("stopped")
				}
				return fmt.Errorf("server %s: %w", u.unit, err)
			}
		}
		if h.allUp() {
			return nil
		}
	}
	return fmt.Errorf("servers %v did not start within 5s", h.unitNames()[:len(h.units)])
}

// allUp reports whether the driver runs every server's unit.
func (h *reliableHost) allUp() bool {
	up := map[string]bool{}
	for _, u := range h.driver.Inspect().Units {
		up[u.Unit] = u.Up
	}
	for _, u := range h.units {
		if !up[u.unit] {
			return false
		}
	}
	return true
}

// stop ends a host (its units keep their saved states in the bank).
func (r *reliableServers) stop(h *reliableHost, why string) {
	r.mu.Lock()
	if r.hosts[h.bank] == h {
		delete(r.hosts, h.bank)
	}
	if why != "" {
		r.waiting[h.bank] = why
	}
	r.mu.Unlock()
	r.log.Info("reliable servers stopped", zap.String("bank", h.bank), zap.String("why", why))
	r.teardown(h)
}

// teardown stops what h runs, once (the supervisor and OnDrop may race).
func (r *reliableServers) teardown(h *reliableHost) {
	h.down.Do(func() { h.teardown() })
}

func (h *reliableHost) teardown() {
	if h.cancel != nil {
		h.cancel()
		for _, u := range h.units {
			<-u.done
		}
	}
	if h.app != nil {
		h.app.Close()
	}
	if h.driver != nil {
		h.driver.Close()
	}
	if h.task != nil {
		h.task.Terminate()
	}
}

// drop stops the servers of bank b now: the bank goes to the partner's
// copy (OnDrop), which runs them from its own state.
func (r *reliableServers) drop(b *stm.Bank) {
	r.mu.Lock()
	var hs []*reliableHost
	for _, h := range r.hosts {
		if h.store == b {
			hs = append(hs, h)
		}
	}
	r.mu.Unlock()
	for _, h := range hs {
		r.stop(h, "")
	}
}

func (r *reliableServers) stopAll() {
	r.mu.Lock()
	r.closed = true
	hs := make([]*reliableHost, 0, len(r.hosts))
	for _, h := range r.hosts {
		hs = append(hs, h)
	}
	ext := r.ext
	r.ext = nil
	r.mu.Unlock()
	for _, h := range hs {
		r.stop(h, "")
	}
	if ext != nil {
		ext.close()
	}
}

// Driver is task.Units: the driver running bank's recovery units, nil
// while none runs (the bank refuses commits, or the servers are off).
func (r *reliableServers) Driver(bank string) *servers.Driver {
	if h := r.host(bank); h != nil {
		return h.driver
	}
	return nil
}

// host returns the running host of bank, or nil.
func (r *reliableServers) host(bank string) *reliableHost {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hosts[bank]
}

func (r *reliableServers) inspect() control.RUNode {
	r.mu.Lock()
	hosts := make([]*reliableHost, 0, len(r.hosts))
	for _, h := range r.hosts {
		hosts = append(hosts, h)
	}
	out := control.RUNode{Node: r.node, Hosts: []control.RUHost{}, Off: r.off}
	for bank, why := range r.waiting {
		if r.hosts[bank] == nil {
			out.Hosts = append(out.Hosts, control.RUHost{Bank: bank, Waiting: why,
				DriverStatus: servers.DriverStatus{Host: bank, Units: []servers.UnitStatus{}, Edges: []servers.Edge{}}})
		}
	}
	r.mu.Unlock()
	for _, h := range hosts {
		out.Hosts = append(out.Hosts, control.RUHost{Bank: h.bank, Running: true, Since: h.started, DriverStatus: h.driver.Inspect()})
	}
	sort.Slice(out.Hosts, func(i, j int) bool { return out.Hosts[i].Bank < out.Hosts[j].Bank })
	return out
}

// serveCall calls an operation of a registered server (POST /call): from
// one of the node's external clients (output commit: an acknowledged
// update is durable), numbered with the request's ID when it has one (a
// retry of that ID, through either node, is answered once), or from
// BANK/app when the request says From.
func (r *reliableServers) serveCall(w http.ResponseWriter, req *http.Request) {
	var cr control.CallRequest
	if !decodeBody(w, req, &cr) {
		return
	}
	op, ok := r.operation(cr.Server, cr.Op)
	if !ok {
		http.Error(w, fmt.Sprintf("no operation %q of a server %q is registered on node %s", cr.Op, cr.Server, r.node), http.StatusBadRequest)
		return
	}
	c, code, err := r.caller(cr.From)
	if err != nil {
		http.Error(w, err.Error(), code)
		return
	}
	if cr.From == "" {
		defer r.release(c)
	}
	ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
	defer cancel()
	if cr.ID != nil && cr.From == "" {
		ctx = servers.WithRequestID(ctx, servers.RequestID{Client: cr.ID.Client, Seq: cr.ID.Seq, Low: cr.ID.Low})
	}
	rep := control.CallReply{Node: r.node, Server: cr.Server, Op: cr.Op}
	if rep.Result, err = op.call(ctx, c, cr.Server, cr.Arg); err != nil {
		refuseCall(w, err)
		return
	}
	if cr.From != "" {
		rep.Caller = c.RU().String()
	} else {
		rep.Durable = true
	}
	writeJSON(w, rep)
}

// refuseCall answers a call that failed: 404 with the declared error's
// code for an error of the handler, 400 for a request the server cannot
// take, 503 for one worth retrying (the server is not reachable yet).
func refuseCall(w http.ResponseWriter, err error) {
	var re *servers.RemoteError
	switch {
	case errors.As(err, &re):
		if re.Code != "" {
			w.Header().Set(control.ErrorCodeHeader, re.Code)
		}
		http.Error(w, fmt.Sprintf("%s.%s: %s", re.Server, re.Method, re.Msg), http.StatusNotFound)
	case errors.Is(err, errBadArgument), errors.Is(err, servers.ErrBadRequest):
		http.Error(w, oneLine(err), http.StatusBadRequest)
	default:
		http.Error(w, oneLine(err), http.StatusServiceUnavailable)
	}
}

// operation finds the registered operation op of the server unit
// BANK/NAME.
func (r *reliableServers) operation(unit, op string) (Operation, bool) {
	bank, name, ok := strings.Cut(unit, "/")
	if !ok || bank == "" {
		return Operation{}, false
	}
	for _, reg := range r.regs {
		if reg.name == name {
			o, ok := reg.ops[op]
			return o, ok
		}
	}
	return Operation{}, false
}

// caller is the client a call is made through: BANK/app of the bank from
// (a recovery unit), or one of the node's external clients, the caller's
// alone until it puts it back, when from is empty; with the HTTP status of
// its refusal.
func (r *reliableServers) caller(from string) (*servers.Client, int, error) {
	if from != "" {
		h := r.host(from)
		if h == nil {
			return nil, http.StatusConflict, fmt.Errorf("node %s runs no reliable servers for bank %s", r.node, from)
		}
		return h.app, 0, nil
	}
	r.mu.Lock()
	if r.ext == nil && !r.closed {
		r.ext = &externalClients{node: r.node, kernel: r.kernel, log: r.log}
	}
	ext := r.ext
	r.mu.Unlock()
	if ext == nil {
		return nil, http.StatusServiceUnavailable, servers.ErrClosed
	}
	c, err := ext.get()
	if err != nil {
		return nil, http.StatusServiceUnavailable, err
	}
	return c, 0, nil
}

// release gives back the external client a call was made through.
func (r *reliableServers) release(c *servers.Client) {
	r.mu.Lock()
	ext := r.ext
	r.mu.Unlock()
	if ext == nil {
		c.Close()
		return
	}
	ext.put(c)
}

func (r *reliableServers) serveRUCkpt(w http.ResponseWriter, req *http.Request) {
	var cr control.RUCkptRequest
	if !decodeBody(w, req, &cr) {
		return
	}
	cr.Timeout = control.CkptWait(cr.Timeout)
	bank, _, _ := strings.Cut(cr.Unit, "/")
	h := r.host(bank)
	if h == nil || (h.unit(cr.Unit) == nil && cr.Unit != appUnit(bank)) {
		http.Error(w, fmt.Sprintf("no recovery unit %s runs on node %s", cr.Unit, r.node), http.StatusNotFound)
		return
	}
	ruOf := func() string {
		for _, u := range h.driver.Inspect().Units {
			if u.Unit == cr.Unit {
				return u.RU
			}
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(req.Context(), cr.Timeout)
	defer cancel()
	rep := control.RUCkptReply{Node: r.node, Unit: cr.Unit, RU: ruOf()}
	members := r.members(rep.RU)
	_, msgs0 := h.driver.Stats()
	start := time.Now()
	var err error
	if u := h.unit(cr.Unit); u != nil {
		err = u.svc.Checkpoint(ctx)
	} else {
		err = h.app.Checkpoint(ctx)
	}
	rep.Took = time.Since(start)
	_, msgs1 := h.driver.Stats()
	rep.Msgs, rep.NextRU = msgs1-msgs0, ruOf()
	if err != nil {
		http.Error(w, fmt.Sprintf("checkpoint of %s: %s", rep.RU, oneLine(err)), http.StatusConflict)
		return
	}
	rep.Members = members
	if r.logCkpt != nil {
		var inc int
		if i := strings.LastIndex(rep.RU, "."); i > 0 {
			inc, _ = strconv.Atoi(rep.RU[i+1:])
		}
		e := r.logCkpt(control.CkptEntry{Time: start.Add(rep.Took), Bank: bank, Program: "ru", Unit: cr.Unit, Initiator: "ckpt now",
			Count: 1, Number: inc, Duration: rep.Took, Msgs: rep.Msgs, Members: members})
		rep.Seq = e.Seq
	}
	writeJSON(w, rep)
}

// members is what this node knows of the RUs a checkpoint of ru commits:
// ru and its predecessors, transitively, skipping local RUs that already
// ended (a remote RU's own predecessors are not known here).
func (r *reliableServers) members(ru string) []string {
	preds, current := map[string][]string{}, map[string]string{}
	for _, h := range r.inspect().Hosts {
		for _, u := range h.Units {
			preds[u.RU], current[u.Unit] = u.Preds, u.RU
		}
	}
	ended := func(id string) bool {
		i := strings.LastIndex(id, ".")
		cur, local := current[id[:max(i, 0)]]
		return local && cur != id
	}
	seen := map[string]bool{ru: true}
	for queue := []string{ru}; len(queue) > 0; queue = queue[1:] {
		for _, p := range preds[queue[0]] {
			if !seen[p] && !ended(p) {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func (r *reliableServers) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /ru", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, r.inspect()) })
	mux.HandleFunc("POST /call", r.serveCall)
	mux.HandleFunc("POST /ru/ckpt", r.serveRUCkpt)
}

// appUnit is the application recovery unit of bank.
func appUnit(bank string) string { return bank + "/" + appName }
