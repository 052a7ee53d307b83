package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/examples/kvstore/kv"
	"github.com/ftm-in-go/ftm/internal/failpoint"
	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/stm"
)

// Reliable servers on a pair node (the servers framework on a stable pair): for
// every STM bank the node holds as primary, and while that bank accepts
// commits (its backup is attached), the node runs a servers.Driver over a
// kernel task of its own, the built-in key-value server BANK/kv and an
// application recovery unit BANK/app that `ftmctl kv --from BANK` calls
// through. Their states live in the bank, so when the partner's bank is
// taken over its servers start again here from STM (restarted units abort
// the RU they were in, unless it was precommitted). A bank that refuses
// commits (no backup) has its servers stopped until the backup is back: a
// unit could save nothing. Nothing of this is on a stable task's path: the
// servers commit only when they are called or checkpointed.

// ruTickPeriod is the drivers' protocol tick: unacknowledged protocol
// messages are resent after 4 ticks; nothing else waits for a tick.
const ruTickPeriod = 50 * time.Millisecond

// reliableHost is what runs for one bank.
type reliableHost struct {
	bank    string
	store   *stm.Bank
	task    *kernel.Task
	driver  *servers.Driver
	kv      *servers.Server[kv.Store]
	app     *servers.Client
	cancel  context.CancelFunc
	done    chan error // the kv server's Run
	started time.Time
	down    sync.Once // teardown
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
	ext     *servers.Client          // external client of ftmctl kv (made on first use)
	closed  bool
	off     string // why this node runs no servers at all ("" when it does)
	// logCkpt records a checkpoint taken by ftmctl ckpt now RU (the node's ckpt log).
	logCkpt func(ckptEntry) ckptEntry
}

func newReliableServers(node string, k *kernel.Node, log *zap.Logger) *reliableServers {
	return &reliableServers{node: node, kernel: k, log: log.With(zap.String("part", "servers")),
		kick: make(chan struct{}, 1), hosts: map[string]*reliableHost{}, waiting: map[string]string{}}
}

// start supervises the servers of the banks st holds until ctx ends or
// the returned function is called; that function returns once every host
// is stopped.
func (r *reliableServers) start(ctx context.Context, st *pair.Stable) func() {
	r.stable = st
	if os.Getenv(failpoint.EnvVar) != "" {
		// A failpoint fires at the Nth hit of an STM commit step on either
		// node; the servers' own commits would move it off its target.
		r.mu.Lock()
		r.off = failpoint.EnvVar + " is set (the servers' STM commits would shift the failpoints' hit counts)"
		r.mu.Unlock()
		r.log.Info("reliable servers off", zap.String("why", r.off))
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
// holds anew), whose bank refuses commits, or whose kv server ended on its
// own (reconcile starts it again).
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
		case b.CommitsRefused:
			r.stop(h, "no backup attached: the bank refuses commits")
		default:
			select {
			case err := <-h.done: // the kv server ended on its own: start it again
				h.done <- err
				r.log.Warn("reliable server ended; restarting it", zap.String("bank", name), zap.Error(err))
				r.stop(h, "")
			default:
			}
		}
	}
}

func (r *reliableServers) setWaiting(bank, why string) {
	r.mu.Lock()
	r.waiting[bank] = why
	r.mu.Unlock()
}

// startHost runs the driver, the kv server and the app unit of bank (restarted
// from their saved states when the bank has them).
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
		TickPeriod: ruTickPeriod, Logger: log, Context: ctx})
	if err != nil {
		return err
	}
	h.driver.Start()
	h.app, err = servers.NewClient(servers.ClientConfig{Name: appUnit(bank), Driver: h.driver, Logger: log, Retries: 20, Backoff: 20 * time.Millisecond})
	if err != nil {
		return fmt.Errorf("application unit %s: %w", appUnit(bank), err)
	}
	if h.kv, err = kv.New(servers.Config{Name: kvUnit(bank), Driver: h.driver, Logger: log}); err != nil {
		return fmt.Errorf("kv server %s: %w", kvUnit(bank), err)
	}
	kctx, cancel := context.WithCancel(ctx)
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.kv.Run(kctx) }()
	if err := waitServing(ctx, h, ns); err != nil {
		return err
	}
	r.mu.Lock()
	r.hosts[bank] = h
	delete(r.waiting, bank)
	r.mu.Unlock()
	log.Info("reliable servers running", zap.Strings("units", []string{kvUnit(bank), appUnit(bank)}))
	return nil
}

// waitServing waits until the kv server's unit runs (or its Run failed).
func waitServing(ctx context.Context, h *reliableHost, ns *names.Kernel) error {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-h.done:
			h.done <- err // for teardown
			if err == nil {
				err = errors.New("stopped")
			}
			return fmt.Errorf("server %s: %w", kvUnit(h.bank), err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		for _, u := range h.driver.Inspect().Units {
			if u.Unit == kvUnit(h.bank) && u.Up {
				return nil
			}
		}
	}
	return fmt.Errorf("server %s did not start within 5s", kvUnit(h.bank))
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
		<-h.done
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
		ext.Close()
	}
}

// host returns the running host of bank, or nil.
func (r *reliableServers) host(bank string) *reliableHost {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hosts[bank]
}

// external returns the node's external client (output-committed calls).
func (r *reliableServers) external() (*servers.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, servers.ErrClosed
	}
	if r.ext != nil {
		return r.ext, nil
	}
	t, err := r.kernel.NewTask("kv-client")
	if err != nil {
		return nil, err
	}
	c, err := servers.NewClient(servers.ClientConfig{Name: "ftmctl@" + r.node, Task: t, Names: names.NewKernel(t, r.log),
		Logger: r.log, Retries: 20, Backoff: 20 * time.Millisecond})
	if err != nil {
		t.Terminate()
		return nil, err
	}
	r.ext = c
	return c, nil
}

// ruHost is one bank's driver as GET /ru answers it.
type ruHost struct {
	Bank    string    `json:"bank"`
	Running bool      `json:"running"`
	Waiting string    `json:"waiting,omitempty"` // why its servers do not run
	Since   time.Time `json:"since,omitzero"`
	servers.DriverStatus
}

// ruNode is a node's answer to GET /ru.
type ruNode struct {
	Node  string   `json:"node"`
	Hosts []ruHost `json:"hosts"`
	Off   string   `json:"off,omitempty"`   // why the node runs no reliable servers at all
	Error string   `json:"error,omitempty"` // set by ftmctl for a node that did not answer
}

func (r *reliableServers) inspect() ruNode {
	r.mu.Lock()
	hosts := make([]*reliableHost, 0, len(r.hosts))
	for _, h := range r.hosts {
		hosts = append(hosts, h)
	}
	out := ruNode{Node: r.node, Hosts: []ruHost{}, Off: r.off}
	for bank, why := range r.waiting {
		if r.hosts[bank] == nil {
			out.Hosts = append(out.Hosts, ruHost{Bank: bank, Waiting: why,
				DriverStatus: servers.DriverStatus{Host: bank, Units: []servers.UnitStatus{}, Edges: []servers.Edge{}}})
		}
	}
	r.mu.Unlock()
	for _, h := range hosts {
		out.Hosts = append(out.Hosts, ruHost{Bank: h.bank, Running: true, Since: h.started, DriverStatus: h.driver.Inspect()})
	}
	sort.Slice(out.Hosts, func(i, j int) bool { return out.Hosts[i].Bank < out.Hosts[j].Bank })
	return out
}

// kvRequest is one ftmctl kv call.
type kvRequest struct {
	Bank  string `json:"bank"`           // the kv server called: BANK/kv
	Op    string `json:"op"`             // put, add, get
	Key   string `json:"key"`            // the key
	Value int64  `json:"value"`          // put: the value; add: the increment
	From  string `json:"from,omitempty"` // call from BANK/app (an RU) instead of an external client
}

// kvReply is the answer to a kv call.
type kvReply struct {
	Node   string `json:"node"`   // the node that made the call
	Server string `json:"server"` // BANK/kv
	Op     string `json:"op"`
	Key    string `json:"key"`
	Value  int64  `json:"value"`
	// Caller is the RU the call was made in ("" for an external client,
	// whose update is answered only once the server's RU committed).
	Caller string `json:"caller,omitempty"`
	// Durable: what the call returned is committed (an external client's
	// call: the server answers it only once its RU committed, if the call
	// updated, or read an update, of that RU).
	Durable bool `json:"durable"`
}

func (r *reliableServers) serveKV(w http.ResponseWriter, req *http.Request) {
	var kr kvRequest
	if !decodeBody(w, req, &kr) {
		return
	}
	if kr.Key == "" || kr.Bank == "" {
		http.Error(w, "kv needs a bank and a key", http.StatusBadRequest)
		return
	}
	var c *servers.Client
	var err error
	if kr.From != "" {
		h := r.host(kr.From)
		if h == nil {
			http.Error(w, fmt.Sprintf("node %s runs no reliable servers for bank %s", r.node, kr.From), http.StatusConflict)
			return
		}
		c = h.app
	} else if c, err = r.external(); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
	defer cancel()
	rep := kvReply{Node: r.node, Server: kvUnit(kr.Bank), Op: kr.Op, Key: kr.Key}
	srv := kvUnit(kr.Bank)
	switch kr.Op {
	case "put":
		rep.Value, err = kv.Put.At(srv).Call(ctx, c, kv.PutReq{Key: kr.Key, Value: kr.Value})
	case "add":
		rep.Value, err = kv.Add.At(srv).Call(ctx, c, kv.AddReq{Key: kr.Key, By: kr.Value})
	case "get":
		rep.Value, err = kv.Get.At(srv).Call(ctx, c, kr.Key)
	default:
		http.Error(w, fmt.Sprintf("unknown kv operation %q (want put, add or get)", kr.Op), http.StatusBadRequest)
		return
	}
	if err != nil {
		var re *servers.RemoteError
		if errors.As(err, &re) {
			http.Error(w, fmt.Sprintf("%s.%s: %s", re.Server, re.Method, re.Msg), http.StatusNotFound)
			return
		}
		http.Error(w, oneLine(err), http.StatusServiceUnavailable)
		return
	}
	if kr.From != "" {
		rep.Caller = c.RU().String()
	} else {
		rep.Durable = true
	}
	writeJSON(w, rep)
}

// ruCkptRequest asks for a checkpoint of one recovery unit.
type ruCkptRequest struct {
	Unit    string        `json:"unit"` // BANK/kv or BANK/app
	Timeout time.Duration `json:"timeout"`
}

// ruCkptReply is how it went.
type ruCkptReply struct {
	Node   string        `json:"node"`
	Unit   string        `json:"unit"`
	RU     string        `json:"ru"`      // the RU that was checkpointed
	NextRU string        `json:"next_ru"` // the unit's RU now
	Took   time.Duration `json:"took"`
	Msgs   int64         `json:"msgs"` // protocol messages this node's driver sent meanwhile
	// Members: the RUs committed with it as this node knew them (ckptEntry.Members).
	Members []string `json:"members"`
	Seq     uint64   `json:"seq,omitempty"` // its entry in the node's ckpt log
}

func (r *reliableServers) serveRUCkpt(w http.ResponseWriter, req *http.Request) {
	var cr ruCkptRequest
	if !decodeBody(w, req, &cr) {
		return
	}
	cr.Timeout = ckptWait(cr.Timeout)
	bank, _, _ := strings.Cut(cr.Unit, "/")
	h := r.host(bank)
	if h == nil || (cr.Unit != kvUnit(bank) && cr.Unit != appUnit(bank)) {
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
	rep := ruCkptReply{Node: r.node, Unit: cr.Unit, RU: ruOf()}
	members := r.members(rep.RU)
	_, msgs0 := h.driver.Stats()
	start := time.Now()
	var err error
	if cr.Unit == kvUnit(bank) {
		err = h.kv.Checkpoint(ctx)
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
		e := r.logCkpt(ckptEntry{Time: start.Add(rep.Took), Bank: bank, Program: "ru", Unit: cr.Unit, Initiator: "ckpt now",
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
	mux.HandleFunc("POST /kv", r.serveKV)
	mux.HandleFunc("POST /ru/ckpt", r.serveRUCkpt)
}

func kvUnit(bank string) string  { return bank + "/kv" }
func appUnit(bank string) string { return bank + "/app" }

// The built-in reliable server "kv" is the tutorial server of
// examples/kvstore (package kv), one per bank, named BANK/kv.
