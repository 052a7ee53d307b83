package task

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/internal/takeoverid"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/stm"
)

// Program is the code of a stable task, known to every node under a name
// (Go cannot ship code: both nodes of a pair carry the same programs). It
// returns a one-line result.
type Program func(ctx context.Context, t *Task, args []string) (string, error)

// Task states in a Record.
const (
	StateRunning = "running"
	StateDone    = "done"
	StateFailed  = "failed"
)

// Record is a stable task as the task server keeps it in STM: enough to
// restart it on the backup (paper §4.3: a stable task records how to
// restart it; its memory is in its segments).
type Record struct {
	ID      uint64    `codec:"i" json:"id"`
	Program string    `codec:"p" json:"program"`
	Args    []string  `codec:"a" json:"args,omitempty"`
	State   string    `codec:"s" json:"state"`
	Result  string    `codec:"r" json:"result,omitempty"`
	Error   string    `codec:"e" json:"error,omitempty"`
	Started time.Time `codec:"t" json:"started"`
	// Set by the server for listing (not stored).
	Bank     string    `codec:"-" json:"bank"`
	Node     string    `codec:"-" json:"node"`
	Stats    Stats     `codec:"-" json:"stats"`
	Since    time.Time `codec:"-" json:"running_since"` // when this node (re)started it
	Restarts int       `codec:"n" json:"restarts"`
	// PanicRestarts is how many of the restarts followed a panic of the
	// program (its Restart policy bounds them).
	PanicRestarts int `codec:"k" json:"panic_restarts,omitempty"`
}

// taskTable is the STM object holding a bank's task records, named
// "table" in the "task" namespace.
var taskTable table

type table struct{}

// tasks is the task package's STM namespace.
const tasks = stm.Namespace("task")

// Get returns the task records as tx sees them (none before the first).
func (table) Get(tx *stm.Tx) ([]Record, error) {
	id, ok, err := tasks.Lookup(tx, "table")
	if err != nil || !ok {
		return nil, err
	}
	return stm.Get[[]Record](tx, id)
}

// Set writes the task records in tx, naming the table on first use.
func (table) Set(tx *stm.Tx, recs []Record) error {
	id, err := tasks.Bind(tx, "table")
	if err != nil {
		return err
	}
	return stm.Set(tx, id, recs)
}

// segmentPrefix names the segments of task id in its bank.
func segmentPrefix(id uint64) string { return fmt.Sprintf("task%d/", id) }

// ServerConfig configures a task server.
type ServerConfig struct {
	Node     string             // this node's name, for listings
	Programs map[string]Program // what this node can run
	// Args declares the arguments of programs in Programs (program.go);
	// a program not in it accepts any.
	Args map[string]Args
	// Restart is the restart policy of programs in Programs (restart.go);
	// a program not in it is not restarted after a panic.
	Restart map[string]Restart
	Policy  Policy // checkpoint policy of every task
	Logger  *zap.Logger
	// Failpoint is every task's Config.Failpoint; nil (no failpoint) in
	// production, armed by a binary for crash tests (internal/failpoint).
	Failpoint failpoint.Hook
	// Units, when set, makes every task a recovery unit (unit.go) named
	// UnitName(bank, id), on its bank's driver; nil: tasks checkpoint into
	// their bank in STM transactions of their own.
	Units Units
}

// UnitName is the application recovery unit of task id of bank.
func UnitName(bank string, id uint64) string { return fmt.Sprintf("%s/task%d", bank, id) }

// Server is a node's task server: it starts stable tasks in a bank and
// restarts a bank's tasks after a takeover.
type Server struct {
	cfg ServerConfig
	log *zap.Logger
	ctx context.Context
	wg  sync.WaitGroup

	mu    sync.Mutex          // guards tasks
	tasks map[string]*running // by bank/id
}

type running struct {
	key    string // in Server.tasks
	bank   string
	store  *stm.Bank // the bank the task checkpoints into
	rec    Record
	task   *Task              // nil until started and after it ended
	cancel context.CancelFunc // stops the task (Abandon)
	done   chan struct{}      // closed when the task's goroutine ends
	// abandoned: its bank went to the partner's copy; the task is stopped
	// and forgotten, nothing is recorded.
	abandoned bool
}

// ErrUnknownProgram is returned for a program this node does not carry.
var ErrUnknownProgram = errors.New("task: unknown program")

// ErrNoTask is returned by Remove for a task this node does not list.
var ErrNoTask = errors.New("task: no such task")

// ErrStillRunning is returned by Remove for a task that has not ended.
var ErrStillRunning = errors.New("task: still running")

// NewServer returns a task server; tasks run until ctx ends.
func NewServer(ctx context.Context, cfg ServerConfig) *Server {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Server{cfg: cfg, log: cfg.Logger, ctx: ctx, tasks: map[string]*running{}}
}

// Wait waits for every task goroutine (after ctx ended).
func (s *Server) Wait() { s.wg.Wait() }

// Bank is an STM bank that holds stable tasks, with the name the node pair
// knows it by: a task records itself in the bank and checkpoints into it.
type Bank struct {
	Name string // names the bank's tasks in listings and logs
	STM  *stm.Bank
}

// Start records a new stable task in bank (one STM commit: refused when the
// bank has no backup) and runs it. An unknown program or arguments its
// declaration refuses (Check) fail before anything is recorded.
func (s *Server) Start(ctx context.Context, bank Bank, program string, args []string) (Record, error) {
	if err := s.Check(program, args); err != nil {
		return Record{}, err
	}
	var rec Record
	err := bank.STM.UpdateRetry(ctx, func(tx *stm.Tx) error {
		recs, _ := taskTable.Get(tx)
		id, err := nextID(tx, recs)
		if err != nil {
			return err
		}
		rec = Record{ID: id, Program: program, Args: args, State: StateRunning, Started: time.Now().UTC()}
		return taskTable.Set(tx, append(recs, rec))
	})
	if err != nil {
		return Record{}, fmt.Errorf("record task %s: %w", program, err)
	}
	s.run(bank, rec)
	return rec, nil
}

// nextID gives a new task of recs its id in tx: above every id given
// before in the bank (recorded as "last" in the "task" namespace), so an
// id is never reused after a task is removed.
func nextID(tx *stm.Tx, recs []Record) (uint64, error) {
	var last uint64
	obj, ok, err := tasks.Lookup(tx, "last")
	if err != nil {
		return 0, err
	}
	if ok {
		if last, err = stm.Get[uint64](tx, obj); err != nil {
			return 0, err
		}
	}
	for _, r := range recs {
		last = max(last, r.ID)
	}
	if obj, err = tasks.Bind(tx, "last"); err != nil {
		return 0, err
	}
	return last + 1, stm.Set(tx, obj, last+1)
}

// Resume takes over the tasks recorded in bank: after a takeover, it
// restarts those still running from their last checkpoints and lists those
// that ended (done or failed) with their results, as their node did.
func (s *Server) Resume(ctx context.Context, bank Bank) {
	var recs []Record
	_ = bank.STM.View(ctx, func(tx *stm.Tx) error {
		recs, _ = taskTable.Get(tx)
		return nil
	})
	for _, rec := range recs {
		if rec.State != StateRunning {
			s.keepEnded(bank, rec)
			continue
		}
		rec.Restarts++
		s.log.Info("restarting stable task from its last checkpoint", zap.String("bank", bank.Name), zap.Uint64("task", rec.ID), zap.String("program", rec.Program),
			takeoverid.Field(ctx))
		s.run(bank, rec)
	}
}

// keepEnded lists rec, a task of bank whose end is recorded, without
// running it: it stays listed until its bank is superseded (Abandon).
func (s *Server) keepEnded(bank Bank, rec Record) {
	key := taskKey(bank.Name, rec.ID)
	done := make(chan struct{})
	close(done)
	r := &running{key: key, bank: bank.Name, store: bank.STM, rec: rec, cancel: func() {}, done: done}
	s.mu.Lock()
	s.tasks[key] = r
	s.mu.Unlock()
}

// taskKey names task id of bank in Server.tasks.
func taskKey(bank string, id uint64) string { return fmt.Sprintf("%s/%d", bank, id) }

func (s *Server) run(bank Bank, rec Record) {
	key := taskKey(bank.Name, rec.ID)
	rec.Since = time.Now()
	ctx, cancel := context.WithCancel(s.ctx)
	r := &running{key: key, bank: bank.Name, store: bank.STM, rec: rec, cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	s.tasks[key] = r
	s.mu.Unlock()
	prog := s.cfg.Programs[rec.Program]
	cfg := Config{Name: key, Store: prefixStore{BatchStore: rvm.NewSTMStore(bank.STM), prefix: segmentPrefix(rec.ID)},
		Policy: s.cfg.Policy, Logger: s.log, Failpoint: s.cfg.Failpoint}
	if s.cfg.Units != nil {
		cfg.Store = nil
		cfg.Unit = &UnitConfig{Name: UnitName(bank.Name, rec.ID), Bank: bank.Name, STM: bank.STM, Units: s.cfg.Units}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(r.done)
		defer cancel()
		s.supervise(ctx, r, cfg, prog) // restart.go
	}()
}

// Abandon stops every task checkpointing into bank and forgets it, without
// recording anything: the bank was superseded by the partner's copy (a
// partition healed and the partner's epoch won), where the same tasks go on
// from their own checkpoints. What the stopped tasks computed since their
// last checkpoint is discarded. It returns once they have stopped, with
// how many there were.
func (s *Server) Abandon(bank *stm.Bank) int {
	var stopped []*running
	s.mu.Lock()
	for _, r := range s.tasks {
		if r.store == bank && !r.abandoned {
			r.abandoned = true
			r.cancel()
			stopped = append(stopped, r)
		}
	}
	s.mu.Unlock()
	for _, r := range stopped {
		<-r.done
		s.mu.Lock()
		if s.tasks[r.key] == r { // a task that had ended is forgotten too
			delete(s.tasks, r.key)
		}
		s.mu.Unlock()
		s.log.Warn("stable task stopped: its bank is held by the partner, which runs it", zap.String("bank", r.bank), zap.Uint64("task", r.rec.ID))
	}
	return len(stopped)
}

// superseded reports whether err says the task's bank can no longer commit
// because this node lost it (closed when the partner's copy won, or fenced
// by a newer epoch).
func superseded(err error) bool {
	return errors.Is(err, stm.ErrCrashed) || errors.Is(err, stm.ErrFenced)
}

// finish records a task's end in its bank, then lists it as ended: a task
// listed done or failed has its end committed (best effort: with no backup
// the record stays "running" in STM and the task would run again after a
// takeover, which its checkpoints make cheap); its segments are dropped in
// the same transaction. A task abandoned, or whose bank was lost under it,
// is forgotten instead.
func (s *Server) finish(r *running, result string, st Stats, err error) {
	if s.ctx.Err() != nil {
		return // the node is stopping: the task is not finished
	}
	s.mu.Lock()
	if r.abandoned || (err != nil && superseded(err)) {
		if s.tasks[r.key] == r {
			delete(s.tasks, r.key)
		}
		s.mu.Unlock()
		s.log.Warn("stable task stopped: this node no longer holds its bank", zap.String("bank", r.bank),
			zap.Uint64("task", r.rec.ID), zap.Error(err))
		return
	}
	rec := r.rec
	s.mu.Unlock()
	rec.State, rec.Result, rec.Stats = StateDone, result, st
	if err != nil {
		rec.State, rec.Error = StateFailed, err.Error()
	}
	s.log.Info("stable task ended", zap.String("bank", r.bank), zap.Uint64("task", rec.ID), zap.String("state", rec.State),
		zap.String("result", rec.Result), zap.String("error", rec.Error), zap.Int("checkpoints", st.Checkpoints))
	if s.cfg.Failpoint.Fires(FPRecordEnd, r.key) {
		return // a crash here: the end is recorded only if it committed with the last checkpoint
	}
	if uerr := recordEnd(s.ctx, r.store, rec); uerr != nil {
		s.log.Warn("could not record the task's end in STM", zap.Error(uerr))
	}
	s.mu.Lock()
	r.rec, r.task = rec, nil
	s.mu.Unlock()
}

// recordEnd records rec's end (and restart counts, as listed after a
// takeover) in its bank's task table and drops its
// segments (it never restarts) in one transaction, run again after a
// conflict with other tasks of the bank starting, ending or checkpointing.
func recordEnd(ctx context.Context, bank *stm.Bank, rec Record) error {
	return bank.UpdateRetry(ctx, func(tx *stm.Tx) error {
		recs, _ := taskTable.Get(tx)
		for i := range recs {
			if recs[i].ID == rec.ID {
				recs[i].State, recs[i].Result, recs[i].Error = rec.State, rec.Result, rec.Error
				recs[i].Restarts, recs[i].PanicRestarts = rec.Restarts, rec.PanicRestarts
			}
		}
		if err := rvm.DropSegments(tx, segmentPrefix(rec.ID)); err != nil {
			return err
		}
		return taskTable.Set(tx, recs)
	})
}

// Remove deletes the ended task id of bank from its bank's task table, in
// one commit (refused, like any, when the bank has no backup), and from
// the listing: the operator has read its result. A running task is not
// removed.
func (s *Server) Remove(ctx context.Context, bank string, id uint64) (Record, error) {
	key := taskKey(bank, id)
	s.mu.Lock()
	r := s.tasks[key]
	var rec Record
	if r != nil {
		rec = r.rec
	}
	s.mu.Unlock()
	switch {
	case r == nil:
		return Record{}, fmt.Errorf("remove task %s: %w", key, ErrNoTask)
	case rec.State == StateRunning:
		return Record{}, fmt.Errorf("remove task %s: %w", key, ErrStillRunning)
	}
	err := r.store.UpdateRetry(ctx, func(tx *stm.Tx) error {
		recs, _ := taskTable.Get(tx)
		kept := recs[:0]
		for _, rr := range recs {
			if rr.ID != id {
				kept = append(kept, rr)
			}
		}
		return taskTable.Set(tx, kept)
	})
	if err != nil {
		return Record{}, fmt.Errorf("remove task %s: %w", key, err)
	}
	s.mu.Lock()
	if s.tasks[key] == r {
		delete(s.tasks, key)
	}
	s.mu.Unlock()
	rec.Bank, rec.Node = bank, s.cfg.Node
	return rec, nil
}

// List returns the tasks this node runs or ran, and the ended tasks
// recorded in the banks it took over, by bank and id.
func (s *Server) List() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Record, 0, len(s.tasks))
	for _, r := range s.tasks {
		rec := r.rec
		rec.Bank, rec.Node = r.bank, s.cfg.Node
		if r.task != nil {
			rec.Stats = r.task.Stats()
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bank != out[j].Bank {
			return out[i].Bank < out[j].Bank
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (s *Server) programNames() []string {
	names := make([]string, 0, len(s.cfg.Programs))
	for n := range s.cfg.Programs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// prefixStore keeps each task's segments apart in a shared bank.
type prefixStore struct {
	rvm.BatchStore
	prefix string
}

func (p prefixStore) SavePages(ctx context.Context, seg string, n int, pages map[int][]byte) error {
	return p.BatchStore.SavePages(ctx, p.prefix+seg, n, pages)
}

func (p prefixStore) SaveBatch(ctx context.Context, batch []rvm.SegmentPages) error {
	renamed := make([]rvm.SegmentPages, len(batch))
	for i, sp := range batch {
		sp.Segment = p.prefix + sp.Segment
		renamed[i] = sp
	}
	return p.BatchStore.SaveBatch(ctx, renamed)
}

func (p prefixStore) LoadPages(ctx context.Context, seg string) (map[int][]byte, error) {
	return p.BatchStore.LoadPages(ctx, p.prefix+seg)
}
