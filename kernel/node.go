package kernel

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/clock"
)

// Defaults for Config fields left zero.
const (
	DefaultQueueLimit  = 64
	DefaultMaxBody     = 1 << 20
	DefaultMaxRights   = 64
	DefaultLinkTimeout = 100 * time.Millisecond
)

// Config configures a node.
type Config struct {
	Name       string      // the node's name, also its name on links
	Clock      clock.Clock // default clock.Real
	Logger     *zap.Logger // default zap.NewNop
	QueueLimit int         // default queue limit of new ports
	MaxBody    int         // largest inline body accepted by Send
	MaxRights  int         // most rights one message may carry
	// LinkTimeout is how long after a link is lost its remote ports turn
	// into dead names (default 100ms); a link attached again in time keeps them.
	LinkTimeout time.Duration
}

// Node is one kernel instance: its tasks, their ports, and its links.
type Node struct {
	cfg Config
	log *zap.Logger

	mu          sync.Mutex // guards everything below and every port and name space of the node
	tasks       map[uint64]*Task
	ports       map[*port]struct{} // every live port, for introspection and checks
	freeEntries *entry             // recycled name entries
	nFree       int
	nextID      uint64
	down        bool
	nextPID     uint64

	wg   sync.WaitGroup // spawned task goroutines and link goroutines
	net  *netmsg
	stop context.CancelFunc
	ctx  context.Context // ended by Shutdown
}

// NewNode starts a kernel instance.
func NewNode(cfg Config) *Node {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.QueueLimit <= 0 {
		cfg.QueueLimit = DefaultQueueLimit
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxRights <= 0 {
		cfg.MaxRights = DefaultMaxRights
	}
	if cfg.LinkTimeout <= 0 {
		cfg.LinkTimeout = DefaultLinkTimeout
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With(zap.String("node", cfg.Name)), tasks: map[uint64]*Task{}, ports: map[*port]struct{}{}}
	n.ctx, n.stop = context.WithCancel(context.Background())
	n.net = newNetmsg(n)
	return n
}

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// NewTask creates a task with an empty name space. The caller runs it; see
// Spawn for a task with its own goroutine.
func (n *Node) NewTask(name string) (*Task, error) { return n.newTask(name, false) }

// newTask creates a task; for a spawned one it also counts the goroutine
// in n.wg under n.mu, so that a Shutdown that saw the task also waits for
// its goroutine (Add never races Wait).
func (n *Node) newTask(name string, spawned bool) (*Task, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down {
		return nil, ErrNodeDown
	}
	if spawned {
		n.wg.Add(1)
	}
	n.nextID++
	t := &Task{node: n, id: n.nextID, name: name, names: map[Name]*entry{}, byPort: map[*port]Name{}, done: make(chan struct{})}
	n.tasks[t.id] = t
	return t, nil
}

// Spawn creates a task and runs fn in a new goroutine; the task terminates
// when fn returns (releasing its rights) or when the node shuts down (ctx
// ends). fn's error is logged.
func (n *Node) Spawn(name string, fn func(ctx context.Context, t *Task) error) (*Task, error) {
	t, err := n.newTask(name, true)
	if err != nil {
		return nil, err
	}
	go func() {
		defer n.wg.Done()
		defer t.Terminate()
		if err := fn(n.ctx, t); err != nil && n.ctx.Err() == nil {
			n.log.Warn("task ended with an error", zap.String("task", name), zap.Error(err))
		}
	}()
	return t, nil
}

// Tasks returns the node's live tasks.
func (n *Node) Tasks() []*Task {
	n.mu.Lock()
	defer n.mu.Unlock()
	ts := make([]*Task, 0, len(n.tasks))
	for _, t := range n.tasks {
		ts = append(ts, t)
	}
	return ts
}

// Shutdown terminates every task, closes the node's links and waits for the
// goroutines the node started.
func (n *Node) Shutdown() {
	n.mu.Lock()
	if n.down {
		n.mu.Unlock()
		return
	}
	n.down = true
	ts := make([]*Task, 0, len(n.tasks))
	for _, t := range n.tasks {
		ts = append(ts, t)
	}
	n.mu.Unlock()
	n.stop()
	n.net.shutdown()
	for _, t := range ts {
		t.Terminate()
	}
	n.wg.Wait()
}

func (n *Node) String() string { return fmt.Sprintf("node %s", n.cfg.Name) }
