package node

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/node/control"
	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/publish"
	"github.com/ftm-in-go/ftm/stm"
)

// publishRule is when a node's published tasks are checkpointed: when the
// messages logged since the last checkpoint outgrow it, and at least 4 KiB
// (publishing.txt §5's rule, with a floor so small states are not
// checkpointed at every message).
var publishRule = publish.Rule{Factor: 1, MinBytes: 4 << 10}

type publishedReg struct {
	name  string
	mk    func() publish.Machine
	peers map[string]string // Env.Peer key -> program of the same bank
}

// Published registers mk as the published program name (the second
// recovery mode, package publish): on every bank BANK that a node holds as
// primary, the node runs one published task BANK/name, a Machine made by
// mk. Every message it receives is logged in BANK before it is handled; a
// crash of the task restarts it from its last checkpoint and replays its
// log, and after a takeover the survivor recovers it from the bank the
// same way. Other tasks never see the crash: no message to them is lost
// or sent twice. The task is found under the kernel name BANK/name on the
// node that runs it; `ftmctl publish` lists and feeds it. Program
// registers the other mode (a checkpointed stable task).
func Published(name string, mk func() publish.Machine) Registration {
	return Registration{pub: &publishedReg{name: name, mk: mk}}
}

// WithPeers gives a published registration's tasks their peers: for each
// key, Env.Peer(key) is a send right to the task of program peers[key]
// (registered with Published) of the same bank, looked up
// afresh on every node the task runs on. Register a task's peers before
// it. On any other registration it does nothing.
func (r Registration) WithPeers(peers map[string]string) Registration {
	if r.pub != nil {
		p := *r.pub
		p.peers = peers
		r.pub = &p
	}
	return r
}

// addPublished checks a published registration: its name is unique among
// the servers and published programs, without '/'.
func (r *registry) addPublished(p *publishedReg, seen map[string]bool) error {
	if p.name == "" || strings.Contains(p.name, "/") || p.mk == nil || seen[p.name] {
		return fmt.Errorf("%w: published program %q (names are unique, without '/', not %q, with a constructor)", ErrRegistration, p.name, appName)
	}
	seen[p.name] = true
	r.pubs = append(r.pubs, p)
	return nil
}

// publishedTasks runs the published tasks of the banks a node holds as
// primary: a publish.Manager per bank, which recovers the bank's tasks
// when the node takes it over and is stopped when the node drops it.
type publishedTasks struct {
	node   string
	kernel *kernel.Node
	log    *zap.Logger
	regs   []*publishedReg
	kick   chan struct{}
	// ensuring serializes ensure (the supervisor's and OnTakeover's): one
	// task is recovered or started at a time, never twice.
	ensuring sync.Mutex

	mu    sync.Mutex // guards banks
	banks map[string]*publishedBank
}

// publishedBank is the manager of one bank's published tasks.
type publishedBank struct {
	store *stm.Bank
	mgr   *publish.Manager
	tasks map[string]*publish.Published // by program
}

func newPublishedTasks(node string, k *kernel.Node, log *zap.Logger, regs []*publishedReg) *publishedTasks {
	return &publishedTasks{node: node, kernel: k, log: log.With(zap.String("part", "publish")), regs: regs,
		kick: make(chan struct{}, 1), banks: map[string]*publishedBank{}}
}

// spec is the published task of program reg on bank.
func (pt *publishedTasks) spec(bank string, reg *publishedReg) publish.Spec {
	name := bank + "/" + reg.name
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	spec := publish.Spec{Name: name, New: reg.mk, Seed: h.Sum64()}
	if len(reg.peers) > 0 {
		spec.Connect = func(ctx context.Context, t *kernel.Task) (map[string]kernel.Name, error) {
			out := make(map[string]kernel.Name, len(reg.peers))
			for key, program := range reg.peers {
				n, err := t.Lookup(ctx, pt.node, bank+"/"+program)
				if err != nil {
					return nil, fmt.Errorf("peer %s: %w", key, err)
				}
				out[key] = n
			}
			return out, nil
		}
	}
	return spec
}

// start supervises the published tasks of the banks st holds until ctx
// ends or the returned function is called; that function returns once
// every task is stopped.
func (pt *publishedTasks) start(ctx context.Context, st *pair.Stable) func() {
	if len(pt.regs) == 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for ctx.Err() == nil {
			pt.reconcile(ctx, st)
			select {
			case <-ctx.Done():
			case <-t.C:
			case <-pt.kick:
			}
		}
		pt.stopAll()
	}()
	return func() { cancel(); <-done }
}

// reconcile makes the managers match the banks held as primary, and
// starts the tasks a held bank does not record yet once it accepts
// commits (a new task's first checkpoint is a commit).
func (pt *publishedTasks) reconcile(ctx context.Context, st *pair.Stable) {
	held := map[string]pair.BankStatus{}
	for _, b := range st.Status().Banks {
		if b.Role != pair.RoleBackup {
			held[b.Name] = b
		}
	}
	pt.mu.Lock()
	var gone []*publishedBank
	for name, pb := range pt.banks {
		if _, ok := held[name]; !ok || st.Bank(name) != pb.store {
			gone = append(gone, pb)
			delete(pt.banks, name)
		}
	}
	pt.mu.Unlock()
	for _, pb := range gone {
		pb.mgr.Stop()
	}
	for name, b := range held {
		if store := st.Bank(name); store != nil && ctx.Err() == nil {
			pt.ensure(ctx, name, store, !b.CommitsRefused)
		}
	}
}

// takeover is the node's OnTakeover: the published tasks that bank
// records are recovered here now, from their checkpoints and logs.
func (pt *publishedTasks) takeover(ctx context.Context, bank string, b *stm.Bank) {
	if len(pt.regs) == 0 {
		return
	}
	pt.ensure(ctx, bank, b, false)
	select {
	case pt.kick <- struct{}{}:
	default:
	}
}

// ensure gives bank a manager and runs each registered program's task of
// it: recovered when the bank records it, started when it does not and
// canStart (the bank accepts commits).
func (pt *publishedTasks) ensure(ctx context.Context, bank string, b *stm.Bank, canStart bool) {
	pt.ensuring.Lock()
	defer pt.ensuring.Unlock()
	pb := pt.bankManager(bank, b)
	for _, reg := range pt.regs {
		if pt.running(pb, reg.name) {
			continue
		}
		spec := pt.spec(bank, reg)
		p, err := pt.recoverOrStart(ctx, pb, spec, canStart)
		if err != nil {
			pt.log.Warn("published task not running", zap.String("task", spec.Name), zap.Error(err))
			continue
		}
		if p != nil {
			pt.mu.Lock()
			pb.tasks[reg.name] = p
			pt.mu.Unlock()
		}
	}
}

// recoverOrStart recovers spec from b when b records it (Manager.Takeover),
// else starts it when canStart; nil when neither.
func (pt *publishedTasks) recoverOrStart(ctx context.Context, pb *publishedBank, spec publish.Spec, canStart bool) (*publish.Published, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ps, err := pb.mgr.Takeover(ctx, []publish.Spec{spec})
	if err != nil || len(ps) == 1 {
		if len(ps) == 1 {
			return ps[0], nil
		}
		return nil, err
	}
	if !canStart {
		return nil, nil
	}
	pt.log.Info("starting published task", zap.String("task", spec.Name))
	return pb.mgr.Start(ctx, spec)
}

// bankManager returns bank's manager, made on first use (and made anew
// when the bank's store changed).
func (pt *publishedTasks) bankManager(bank string, b *stm.Bank) *publishedBank {
	pt.mu.Lock()
	pb := pt.banks[bank]
	if pb != nil && pb.store == b {
		pt.mu.Unlock()
		return pb
	}
	delete(pt.banks, bank)
	pt.mu.Unlock()
	if pb != nil {
		pb.mgr.Stop()
	}
	pb = &publishedBank{store: b, tasks: map[string]*publish.Published{},
		mgr: publish.NewManager(publish.Config{Node: pt.kernel, Bank: b, Logger: pt.log.With(zap.String("bank", bank)), Rule: publishRule})}
	pt.mu.Lock()
	pt.banks[bank] = pb
	pt.mu.Unlock()
	return pb
}

func (pt *publishedTasks) running(pb *publishedBank, program string) bool {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pb.tasks[program] != nil
}

// drop is the node's OnDrop: the tasks of bank b stop here.
func (pt *publishedTasks) drop(b *stm.Bank) {
	pt.mu.Lock()
	var gone []*publishedBank
	for name, pb := range pt.banks {
		if pb.store == b {
			gone = append(gone, pb)
			delete(pt.banks, name)
		}
	}
	pt.mu.Unlock()
	for _, pb := range gone {
		pb.mgr.Stop()
	}
}

func (pt *publishedTasks) stopAll() {
	pt.mu.Lock()
	all := pt.banks
	pt.banks = map[string]*publishedBank{}
	pt.mu.Unlock()
	for _, pb := range all {
		pb.mgr.Stop()
	}
}

// list returns the published tasks the node runs, by name.
func (pt *publishedTasks) list() []control.PublishedTask {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	out := []control.PublishedTask{}
	for bank, pb := range pt.banks {
		for program, p := range pb.tasks {
			out = append(out, pt.row(bank, program, p))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (pt *publishedTasks) row(bank, program string, p *publish.Published) control.PublishedTask {
	s := p.Stats()
	r := control.PublishedTask{Node: pt.node, Bank: bank, Name: bank + "/" + program, Program: program,
		Incarnations: s.Incarnations, Handled: s.Handled, Replayed: s.Replayed, Suppressed: s.Suppressed,
		Sent: s.Sent, Refused: s.Refused, Checkpoints: s.Checkpoints, LogBytes: s.LogBytes, CkptBytes: s.CkptBytes}
	select {
	case <-p.Done():
		r.Error = "stopped"
		if err := p.Err(); err != nil {
			r.Error = err.Error()
		}
	default:
	}
	return r
}

// errNoPublished is a send to a published task this node does not run.
var errNoPublished = errors.New("no such published task on this node")

// send gives body to the published task named name, from a kernel task
// of its own, and returns the task's reply.
func (pt *publishedTasks) send(ctx context.Context, name string, body []byte) ([]byte, error) {
	t, err := pt.kernel.NewTask("ftmctl-publish")
	if err != nil {
		return nil, err
	}
	defer t.Terminate()
	dest, err := t.Lookup(ctx, pt.node, name)
	if err != nil {
		return nil, fmt.Errorf("%w: %s (%v)", errNoPublished, name, err)
	}
	reply, err := t.AllocatePort()
	if err != nil {
		return nil, err
	}
	if err := t.Send(ctx, &kernel.Message{Dest: dest, Reply: reply, Body: body}); err != nil {
		return nil, err
	}
	m, err := t.Receive(ctx, reply)
	if err != nil {
		return nil, err
	}
	return m.Body, nil
}

// routes adds GET /publish (the published tasks) and POST /publish/send.
func (pt *publishedTasks) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /publish", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, pt.list()) })
	mux.HandleFunc("POST /publish/send", func(w http.ResponseWriter, r *http.Request) {
		var req control.PublishSendRequest
		if !decodeBody(w, r, &req) {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		rep, err := pt.send(ctx, req.Task, []byte(req.Body))
		if err != nil {
			status := http.StatusServiceUnavailable
			if errors.Is(err, errNoPublished) {
				status = http.StatusNotFound
			}
			http.Error(w, err.Error(), status)
			return
		}
		writeJSON(w, control.PublishSendReply{Node: pt.node, Reply: string(rep)})
	})
}
