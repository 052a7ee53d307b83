package publish

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/clock"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/stm"
)

// Config configures a Manager.
type Config struct {
	Node   *kernel.Node // where the manager's tasks run
	Bank   *stm.Bank    // holds the logs and checkpoints (mirrored: they survive the node)
	Logger *zap.Logger  // default zap.NewNop
	Clock  clock.Clock  // stamps received messages (Env.Now); default clock.Real
	Rule   Rule         // when a task is checkpointed
	// Failpoint is called at each step of recording, replay, sending and
	// checkpointing ("publish.record.before", "publish.record.after",
	// "publish.replay", "publish.send.after",
	// "publish.checkpoint.before", "publish.checkpoint.after"; subject:
	// the task's name). An error there crashes the task: it panics, and
	// is recovered like any crash. Nil in production.
	Failpoint failpoint.Hook
	// CrashLimit is how many crashes in a row at the same message end a
	// task with ErrCrashLoop (default 3).
	CrashLimit int
	// Backoff is the wait before an incarnation that follows k crashes in
	// a row at one message: (k-1)·Backoff (default 10ms; the first
	// recovery starts at once).
	Backoff time.Duration
}

// Rule says when a published task is checkpointed: when the messages
// logged since its last checkpoint take more than Factor times the
// checkpoint's size, and at least MinBytes (publishing.txt §5: "a
// process is checkpointed whenever its published message storage exceeds
// its checkpoint size" is Factor 1). A negative Factor never checkpoints.
type Rule struct {
	Factor   int
	MinBytes int
}

// due reports whether a log of logBytes has outgrown a checkpoint of
// ckptBytes.
func (r Rule) due(logBytes, ckptBytes int) bool {
	f := r.Factor
	if f == 0 {
		f = 1
	}
	return f > 0 && logBytes > f*ckptBytes && logBytes >= r.MinBytes
}

// Spec describes a published task.
type Spec struct {
	// Name names the task: its objects in the bank, and its port in the
	// node's registry (kernel Lookup finds it under this name).
	Name string
	// New returns a Machine in its initial state.
	New func() Machine
	// Connect, if set, gives the task its send rights to the peers it
	// sends to (Env.Peer), looked up afresh on each node it runs on.
	Connect func(ctx context.Context, t *kernel.Task) (map[string]kernel.Name, error)
	// Seed seeds Env.Rand.
	Seed uint64
}

// Manager is the recovery manager (publishing.txt §3.4) of one node: it
// starts published tasks, learns of their crashes and restarts them from
// their last checkpoint; after its node's partner died, Takeover recovers
// the partner's published tasks here from the mirrored bank.
type Manager struct {
	cfg Config
	log *zap.Logger

	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex // guards tasks and crashes
	tasks map[string]*Published
	// crashes counts the crashes the manager recovered from.
	crashes int
}

// NewManager returns a manager of published tasks on cfg.Node, logging in
// cfg.Bank.
func NewManager(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.CrashLimit <= 0 {
		cfg.CrashLimit = 3
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 10 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{cfg: cfg, log: cfg.Logger.With(zap.String("node", cfg.Node.Name())),
		ctx: ctx, cancel: cancel, tasks: map[string]*Published{}}
}

// Start publishes a new task: its initial checkpoint is recorded, its port
// registered under spec.Name, and it runs until Stop.
func (m *Manager) Start(ctx context.Context, spec Spec) (*Published, error) {
	p, err := m.prepare(ctx, spec)
	if err != nil {
		return nil, err
	}
	state, err := spec.New().Snapshot()
	if err == nil {
		err = p.st.create(ctx, state)
	}
	if err != nil {
		p.task.Terminate()
		return nil, fmt.Errorf("publish %s: %w", spec.Name, err)
	}
	return m.launch(ctx, p)
}

// Recover restarts, on this manager's node, a published task the bank
// records (its node died; the bank is the survivor's copy): from its last
// checkpoint, replaying its log, re-sending nothing it had sent.
func (m *Manager) Recover(ctx context.Context, spec Spec) (*Published, error) {
	p, err := m.prepare(ctx, spec)
	if err != nil {
		return nil, err
	}
	rec, err := p.st.load(ctx)
	h := rec.head
	if err != nil {
		p.task.Terminate()
		return nil, fmt.Errorf("recover %s: %w", spec.Name, err)
	}
	p.home, p.sent = h.Next, h.Sent
	m.log.Info("recovering published task", zap.String("task", spec.Name),
		zap.Uint64("logged", h.Next-h.First), zap.Uint64("sent", h.Sent))
	return m.launch(ctx, p)
}

// Takeover is the hook a node calls when it takes over its partner's bank:
// every spec the bank records is recovered here; the others are skipped
// (finding them commits nothing: a bank without a backup refuses commits).
func (m *Manager) Takeover(ctx context.Context, specs []Spec) ([]*Published, error) {
	var out []*Published
	for _, spec := range specs {
		if ok, err := Recorded(m.cfg.Bank, spec.Name); err != nil || !ok {
			if err != nil {
				return out, err
			}
			continue
		}
		p, err := m.Recover(ctx, spec)
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

// prepare makes the task's kernel task, port, store and recorder.
func (m *Manager) prepare(ctx context.Context, spec Spec) (*Published, error) {
	if spec.Name == "" || spec.New == nil {
		return nil, fmt.Errorf("%w: a spec needs a Name and New", ErrBadSpec)
	}
	st, err := openStore(ctx, m.cfg.Bank, spec.Name)
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", spec.Name, err)
	}
	t, err := m.cfg.Node.NewTask(spec.Name)
	if err != nil {
		return nil, err
	}
	p := &Published{m: m, spec: spec, task: t, st: st, id: senderID(spec.Name), done: make(chan struct{})}
	p.rec = &recorder{p: p}
	if err := p.bind(ctx); err != nil {
		t.Terminate()
		return nil, fmt.Errorf("publish %s: %w", spec.Name, err)
	}
	return p, nil
}

// bind gives the task its port (registered under its name) and its peers.
func (p *Published) bind(ctx context.Context) error {
	port, err := p.task.AllocatePort()
	if err != nil {
		return err
	}
	p.port = port
	if err := p.task.Register(p.spec.Name, port); err != nil {
		return err
	}
	p.peers = connected{}
	if p.spec.Connect != nil {
		c, err := p.spec.Connect(ctx, p.task)
		if err != nil {
			return err
		}
		p.peers = connected(c)
	}
	return nil
}

// launch installs the recorder and starts the task's goroutine.
func (m *Manager) launch(_ context.Context, p *Published) (*Published, error) {
	m.mu.Lock()
	if m.tasks[p.spec.Name] != nil {
		m.mu.Unlock()
		p.task.Terminate()
		return nil, fmt.Errorf("publish %s: %w", p.spec.Name, ErrExists)
	}
	m.tasks[p.spec.Name] = p
	m.mu.Unlock()
	p.task.SetRecorder(p.rec)
	go p.run(m.ctx)
	return p, nil
}

// crashed is how the manager learns of a crash (§3.3): the task's
// goroutine trapped it and will start the next incarnation.
func (m *Manager) crashed(p *Published, c crashed) {
	m.mu.Lock()
	m.crashes++
	m.mu.Unlock()
	m.log.Info("published task crashed; recovering from its checkpoint",
		zap.String("task", p.spec.Name), zap.Any("cause", c.cause))
}

// Task returns the manager's published task named name, or nil.
func (m *Manager) Task(name string) *Published {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tasks[name]
}

// Crashes is how many crashes the manager has recovered from.
func (m *Manager) Crashes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.crashes
}

// Stop ends every task of the manager and waits for them.
func (m *Manager) Stop() {
	m.cancel()
	m.mu.Lock()
	ps := make([]*Published, 0, len(m.tasks))
	for _, p := range m.tasks {
		ps = append(ps, p)
	}
	m.mu.Unlock()
	for _, p := range ps {
		<-p.done
		p.task.Terminate()
	}
}
