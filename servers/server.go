package servers

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/ftm-in-go/ftm/stm"
	"go.uber.org/zap"
)

// Op is the attribute of a server operation (§4.1): Read or Update.
type Op = ru.Op

// Operation attributes.
const (
	Read   = ru.Read
	Update = ru.Update
)

// Config configures a reliable server.
type Config struct {
	Name   string        // persistent port name and recovery-unit name; unique in the system
	Driver *Driver       // runs the server's recovery unit (shared by the servers of a node)
	Task   *kernel.Task  // the task receiving calls (default: the driver's task)
	Names  names.Service // where the persistent port is bound (default: the driver's)
	Logger *zap.Logger
}

// Hooks are the overridable parts of the default protocol handlers (the
// paper's redefinable restart method). All are optional; they run with the
// driver's lock held, so they must only touch s (no calls, no checkpoint).
type Hooks[S any] struct {
	Restart          func(s *S) // after S was restored from STM: restart, or RU abort (not a first start)
	BeforeCheckpoint func(s *S) // before S is precommitted into a checkpoint
	AfterCheckpoint  func(s *S) // after the checkpoint containing S committed
}

// stable is what a server keeps in its STM object: the state and the
// duplicate table (client → request seq → saved reply) that makes a
// retried request execute at most once.
type stable[S any] struct {
	State S
	Dups  map[string]map[uint64]savedReply
}

// savedReply is a duplicate-table entry: the reply a call gave.
type savedReply struct {
	Status uint8
	Err    string
	Code   string `codec:",omitempty"` // the declared error Err matched (errors.go)
	Body   []byte
}

// Server is a reliable server around a plain Go state type S, which must
// survive the codec whole (NewServer checks it). Calls are served one at
// a time (the paper's cyclic server); each runs inside the server's
// current recovery unit.
type Server[S any] struct {
	cfg     Config
	log     *zap.Logger
	init    func() S
	hooks   Hooks[S]
	dataID  stm.ID
	methods map[string]*handler[S] // registered by Handle (method.go)

	setupErr error // a registration Handle refused; Run returns it

	callMu  sync.Mutex  // one call at a time; held while st is used by a call
	st      stable[S]   // guarded by callMu during a call, by the driver's mu otherwise
	busy    atomic.Bool // a call is being served (read under the driver's mu)
	port    kernel.Name // service receive right
	nested  *Client     // nested calls of served calls, in the server's RU
	ran     atomic.Bool
	outWG   sync.WaitGroup // replies waiting for output commit
	cancels cancels        // the call in progress, for the cancel port (cancel.go)

	precommitWrites func(tx *stm.Tx, s *S) error // SetPrecommitWrites (precommitwrites.go)

	layout stateLayout // where S's collections are (stable.go)
	forget bool        // the unit crashed: reload every collection (driver's mu)
	burst  burst       // requests queued at the port, group commit (groupcommit.go)
}

// Call is the context of one served call.
type Call struct {
	ctx    context.Context
	client *Client // nested calls, made in the server's RU
	Caller ru.ID   // the caller's RU (zero for an external client)
	Op     Op      // the attribute of the method being served
}

// Context returns the call's context: it ends when the server stops,
// when the deadline of the client's context has passed (deadline.go) or
// when the client cancels the call (cancel.go). Nested calls made with it
// carry the deadline and the cancellation on.
func (c *Call) Context() context.Context { return c.ctx }

// Client returns a client for nested calls, made inside the server's RU
// (each nested call applies the dependency rules at its own level).
func (c *Call) Client() *Client { return c.client }

// NewServer returns a server whose state starts as init() on its first
// run; register methods with Handle, then Run. It refuses a state type
// that would not survive a checkpoint whole — an unexported field, a func,
// a channel, an interface, ... (a *LossyTypeError naming the type and the
// field) — and an initial value that changes in an encode/decode round
// trip.
func NewServer[S any](cfg Config, init func() S) (*Server[S], error) {
	if init == nil {
		return nil, fmt.Errorf("servers: server %q needs an init function", cfg.Name)
	}
	if err := checkState(init()); err != nil {
		return nil, err
	}
	return newServer(cfg, init), nil
}

// newServer builds a server without checking S (a test shows what an
// unchecked state type lost).
func newServer[S any](cfg Config, init func() S) *Server[S] {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Driver != nil {
		cfg.Task, cfg.Names = cfg.Driver.defaults(cfg.Task, cfg.Names)
	}
	return &Server[S]{cfg: cfg, log: cfg.Logger.With(zap.String("server", cfg.Name)), init: init,
		methods: map[string]*handler[S]{}, layout: layoutOf(reflect.TypeFor[S]())}
}

// SetHooks installs the overridable protocol hooks; call before Run.
func (s *Server[S]) SetHooks(h Hooks[S]) { s.hooks = h }

// Run restores S (from the last committed version in STM, or init for a
// new server), binds the persistent port name to a fresh port and serves
// calls until ctx ends. A server that crashed is restarted by calling Run
// again on a new Server over the same bank.
func (s *Server[S]) Run(ctx context.Context) error {
	if s.setupErr != nil {
		return s.setupErr
	}
	if s.cfg.Driver == nil || s.cfg.Name == "" || s.init == nil {
		return fmt.Errorf("servers: server needs Name, Driver and init")
	}
	if s.ran.Swap(true) {
		return fmt.Errorf("servers: server %q already ran", s.cfg.Name)
	}
	dataID, err := objectID(ctx, s.cfg.Driver.Bank(), stateName(s.cfg.Name))
	if err != nil {
		return err
	}
	s.dataID = dataID
	p, err := s.cfg.Task.AllocatePort()
	if err != nil {
		return err
	}
	s.port = p
	d := s.cfg.Driver
	s.nested = newClient(ClientConfig{Name: s.cfg.Name, Driver: d, Task: s.cfg.Task, Names: s.cfg.Names, Logger: s.log}, true)
	defer s.nested.Close()
	if err := d.attach(s.cfg.Name, s); err != nil {
		_ = s.cfg.Task.Destroy(p)
		return err
	}
	defer d.detach(s.cfg.Name)
	defer s.outWG.Wait()
	defer func() { _ = s.cfg.Task.Destroy(p) }()
	stopCancels, err := s.serveCancels(ctx)
	if err != nil {
		return err
	}
	defer stopCancels()
	if err := s.cfg.Names.Register(s.cfg.Name, p); err != nil {
		return err
	}
	s.log.Debug("serving")
	return s.serveLoop(ctx, p)
}

// Checkpoint starts a checkpoint of the server's RU (an I/O server may
// want its state stable now) and waits until it committed (ErrAborted if
// it aborted). Not from a handler: the RU cannot commit while a call runs.
func (s *Server[S]) Checkpoint(ctx context.Context) error {
	return s.cfg.Driver.checkpoint(ctx, s.cfg.Name)
}

// serve runs one call: admission, execution in the RU, dependencies,
// persist, reply (after output commit for an external client).
func (s *Server[S]) serve(ctx context.Context, m *kernel.Message) {
	replyTo, body, id := m.Reply, m.Body, m.ID
	m.Free()
	if replyTo == kernel.NameNull {
		return
	}
	if id != msgRequest {
		s.reply(replyTo, reply{Status: statusBad, Err: "servers: unknown message id"})
		return
	}
	req, err := decodeRequest(body)
	if err != nil {
		s.reply(replyTo, reply{Status: statusBad, Err: err.Error()})
		return
	}
	h := s.methods[req.Method]
	if h == nil {
		s.reply(replyTo, reply{Status: statusBad, Seq: req.Seq, Err: fmt.Sprintf("servers: %s has no method %q", s.cfg.Name, req.Method)})
		return
	}
	rep, waitRU, asked := s.execute(ctx, req, h)
	rep.Seq = req.Seq
	if waitRU.IsZero() {
		s.reply(replyTo, rep)
		return
	}
	s.burst.join(req.Client) // groupcommit.go
	s.burst.held = append(s.burst.held, heldReply{ru: waitRU, to: replyTo, rep: rep})
	if !asked {
		s.burst.unflushed = waitRU // the burst's last request asks for it
		return
	}
	s.releaseBurst(ctx) // committed in the call's own step, as a rule
}

// execute runs a call inside the RU. It returns the reply and, for an
// external client whose reply depends on this RU, the RU to wait for, and
// whether the call's end asked for its commit already (groupcommit.go).
func (s *Server[S]) execute(ctx context.Context, req request, h *handler[S]) (reply, ru.ID, bool) {
	d := s.cfg.Driver
	s.callMu.Lock()
	defer s.callMu.Unlock()
	sc := &servedCall{unit: s.cfg.Name, req: req, op: h.op, owner: s,
		more: func() bool { return s.burstGoesOn(req.Client) }}
	if err := d.admit(ctx, sc); err != nil {
		return reply{Status: statusRetry, Err: err.Error()}, ru.ID{}, false
	}
	ruAt := sc.ru
	callCtx := s.cancels.begin(ctx, req) // deadline.go, cancel.go
	defer s.cancels.end()
	c := &Call{ctx: callCtx, Caller: req.RU, Op: h.op, client: s.nested}
	s.nested.serveIn(servedIn{unit: sc.u, ru: ruAt})
	out, p := s.run(c, req, h)
	if p != nil {
		s.containPanic(sc, p)
		return panicReply(s.cfg.Name, req.Method, p), ru.ID{}, false
	}
	rep := reply{Status: out.Status, Err: out.Err, Code: out.Code, Body: out.Body, ServerRU: ruAt, Host: d.hostKey()}
	deps, ok := d.endCall(sc)
	if !ok {
		return reply{Status: statusRetry, Err: ErrAborted.Error()}, ru.ID{}, false
	}
	rep.Deps = deps
	if sc.outputCommit(deps) {
		return rep, ruAt, sc.asked
	}
	return rep, ru.ID{}, false
}

// run executes the handler with the duplicate table. A handler that
// panicked leaves no entry (p: its RU is to abort). callMu held.
func (s *Server[S]) run(c *Call, req request, h *handler[S]) (savedReply, *panicked) {
	tbl := s.dupsOf(req)
	if saved, ok := tbl[req.Seq]; ok {
		s.log.Debug("duplicate answered", zap.String("client", req.Client), zap.Uint64("seq", req.Seq))
		return saved, nil
	}
	out, err, p := callHandler(h, c, &s.st.State, req.Body)
	if p != nil {
		return savedReply{}, p
	}
	saved := savedReply{Status: statusOK, Body: out}
	switch {
	case errors.Is(err, errBadRequest):
		saved = savedReply{Status: statusBad, Err: err.Error()}
	case err != nil:
		saved = savedReply{Status: statusAppError, Err: err.Error(), Code: codeOf(h.declared, err)}
	}
	// Reads are kept too: a read may have made nested updates, which a
	// re-execution would repeat.
	tbl[req.Seq] = saved
	return saved, nil
}

// dupsOf returns the duplicate table of req's client, pruned of the
// requests it says were answered. callMu held.
func (s *Server[S]) dupsOf(req request) map[uint64]savedReply {
	if s.st.Dups == nil {
		s.st.Dups = map[string]map[uint64]savedReply{}
	}
	tbl := s.st.Dups[req.Client]
	if tbl == nil {
		tbl = map[uint64]savedReply{}
		s.st.Dups[req.Client] = tbl
	}
	for seq := range tbl {
		if seq < req.Low {
			delete(tbl, seq)
		}
	}
	return tbl
}

func (s *Server[S]) reply(to kernel.Name, r reply) {
	body, err := stm.Encode(r)
	if err != nil {
		s.log.Warn("encode reply", zap.Error(err))
		return
	}
	m := kernel.NewMessage()
	m.Dest, m.DestDisp, m.ID, m.Body = to, kernel.MoveSendOnce, msgReply, body
	if err := s.cfg.Task.TrySend(m); err != nil {
		m.Free()
		s.log.Debug("reply lost", zap.Error(err))
		_ = s.cfg.Task.Deallocate(to)
	}
}

// stateOwner, called by the driver with its mu held.

func (s *Server[S]) inCall() bool { return s.busy.Load() }

func (s *Server[S]) setBusy(b bool) { s.busy.Store(b) }

func (s *Server[S]) precommitState(ctx context.Context, g stm.GroupID) error {
	tx := s.cfg.Driver.Bank().Begin()
	err := s.writePrecommit(tx)
	if err == nil {
		err = tx.Precommit(ctx, g)
	}
	if err != nil {
		tx.Abort()
		return fmt.Errorf("servers: precommit %s: %w", s.cfg.Name, err)
	}
	return nil
}

// writePrecommit writes what the server precommits into tx: its
// precommit writes and S.
func (s *Server[S]) writePrecommit(tx *stm.Tx) error {
	if s.hooks.BeforeCheckpoint != nil {
		s.hooks.BeforeCheckpoint(&s.st.State)
	}
	if s.precommitWrites != nil {
		if err := s.precommitWrites(tx, &s.st.State); err != nil {
			return fmt.Errorf("servers: precommit %s: %w", s.cfg.Name, err)
		}
	}
	return s.writeState(tx)
}

func (s *Server[S]) commitState(tx *stm.Tx) error {
	if s.hooks.BeforeCheckpoint != nil {
		s.hooks.BeforeCheckpoint(&s.st.State)
	}
	return s.writeState(tx)
}

// writeState writes S into tx: the changed entries of its collections,
// then S's object with their headers (stable.go).
func (s *Server[S]) writeState(tx *stm.Tx) error {
	for _, o := range s.layout.objects(&s.st.State) {
		if err := o.writeObjects(tx); err != nil {
			return fmt.Errorf("servers: write %s: %w", s.cfg.Name, err)
		}
	}
	b, err := encodeStable(&s.st)
	if err != nil {
		return fmt.Errorf("servers: encode %s: %w", s.cfg.Name, err)
	}
	return tx.Put(s.dataID, b)
}

// crashed says the server's volatile state is lost (its unit crashed):
// the next reload reads every collection back from the bank.
func (s *Server[S]) crashed() { s.forget = true }

func (s *Server[S]) reloadState(context.Context) error {
	full := s.forget
	s.forget = false
	tx := s.cfg.Driver.Bank().Begin()
	defer tx.Abort()
	b, err := tx.Bytes(s.dataID)
	if errors.Is(err, stm.ErrNotFound) {
		s.st = stable[S]{State: s.init(), Dups: map[string]map[uint64]savedReply{}}
		return nil
	}
	if err != nil {
		return err
	}
	st, err := decodeStable[S](b)
	if err != nil {
		return err
	}
	if err := s.restoreObjects(tx, &st.State, full); err != nil {
		s.forget = true // what memory holds is unknown: the next reload loads all
		return fmt.Errorf("servers: reload %s: %w", s.cfg.Name, err)
	}
	if st.Dups == nil {
		st.Dups = map[string]map[uint64]savedReply{}
	}
	s.st = st
	return nil
}

// restoreObjects fills the collections of next, just decoded, with their
// committed entries: the current S's reverted (an abort), or all of them
// read from tx (full, or another write's header).
func (s *Server[S]) restoreObjects(tx *stm.Tx, next *S, full bool) error {
	olds := s.layout.objects(&s.st.State)
	for i, o := range s.layout.objects(next) {
		if err := o.restore(tx, olds[i], full); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server[S]) afterCheckpoint() {
	for _, o := range s.layout.objects(&s.st.State) {
		o.committedWrite()
	}
	if s.hooks.AfterCheckpoint != nil {
		s.hooks.AfterCheckpoint(&s.st.State)
	}
}

func (s *Server[S]) restarted() {
	if s.hooks.Restart != nil {
		s.hooks.Restart(&s.st.State)
	}
}
