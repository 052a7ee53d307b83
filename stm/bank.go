package stm

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"go.uber.org/zap"
)

// Config configures a primary bank. The zero value is valid.
type Config struct {
	// Logger receives structured events; nil means zap.NewNop().
	Logger *zap.Logger
	// Failpoint, when set, is called at every named phase boundary
	// (PrimaryFailpoints), with subject "". A non-nil return simulates the
	// machine dying there: the operation stops, the mirror is closed and
	// the bank answers ErrCrashed from then on. Nil in production. It must
	// not call back into the bank.
	Failpoint failpoint.Hook
	// OnCommit, when set, is told how long each commit that writes spent
	// from shipping its phase 1 to the backup to its local apply (or
	// precommit), and its error (one wrapping ErrNoBackup when the commit
	// was refused). For metrics: it runs on the committing goroutine after
	// the bank's locks are released, and must not block.
	OnCommit func(b *Bank, d time.Duration, err error)
	// OnAttach, when set, is told how long each Attach took (the full copy
	// to a new backup) and its error. For metrics, like OnCommit.
	OnAttach func(b *Bank, d time.Duration, err error)
	// Alone, when set, is asked when a commit or a group decision finds no
	// working backup: nil lets it apply on this bank alone (the node holds
	// the group's lease for the bank, package cluster), an error refuses it
	// as without Alone (ErrNoBackup). Nil: a bank never commits alone. It
	// must be cheap and must not call back into the bank.
	Alone func() error
}

func (c Config) logger() *zap.Logger {
	if c.Logger == nil {
		return zap.NewNop()
	}
	return c.Logger
}

type bankState uint8

const (
	live bankState = iota
	crashed
	fenced
)

// object is one committed version. data is never modified in place once
// committed, so snapshots and readers may share it.
type object struct {
	data []byte
	seq  uint64    // commit sequence of the transaction that wrote it
	mem  *frameMem // backup only: the received frame data aliases, if shared
	lent bool      // primary only: a copy of lent data no reader was handed (borrow.go)
}

// Bank is the primary bank: the committed objects in this node's memory,
// the running transactions and the link to the backup bank.
type Bank struct {
	cfg Config
	log *zap.Logger

	// mirrorMu is held shared while a commit talks to the mirror and then
	// changes local state, and exclusively while a new mirror is swapped in,
	// so a joining backup never misses a transaction.
	mirrorMu sync.RWMutex
	mirror   Mirror // guarded by mirrorMu (and mu for Close on crash)

	spare spare // buffers of superseded lent copies, reused (borrow.go); its own lock

	mu      sync.Mutex         // guards every field below
	state   bankState          // live, crashed or fenced
	epoch   uint64             // fencing epoch; a takeover increments it
	objs    map[ID]*object     // committed versions
	locks   map[ID]*Tx         // write locks: the transaction holding a new version
	groups  map[GroupID]*group // groups with members or a recent decision
	decided []GroupID          // decided groups, oldest first (bounded)
	seq     uint64             // last commit sequence handed out
	nextID  ID                 // next id for Tx.Create
	nextTx  TxID               // last transaction id handed out
	running map[TxID]*Tx       // transactions not yet finished
	dirs    map[ID]dirCache    // decoded committed directories (names.go)
	joining bool               // a backup is receiving its full copy
	// mirrorBroken: the last exchange with the mirror failed, so the
	// backup's state is unknown; commits are refused until Attach.
	mirrorBroken bool
	stats        Stats // counters
}

// Stats are a bank's counters.
type Stats struct {
	Epoch     uint64
	Objects   int
	Running   int
	Committed uint64
	Aborted   uint64
	Conflicts uint64
	Seq       uint64
	Joining   bool
	Alone     uint64 // commits applied with no backup, under Config.Alone
}

// NewBank returns an empty primary bank with epoch 1 and no backup; attach
// one with Attach before committing.
func NewBank(cfg Config) *Bank {
	return newBank(cfg, committed{epoch: 1, objs: make(map[ID]*object), nextID: FirstAllocatedID})
}

// committed is the state a primary bank starts from: a new bank's, or what a
// backup held when it took over.
type committed struct {
	epoch  uint64         // fencing epoch
	objs   map[ID]*object // committed versions
	seq    uint64         // last commit sequence handed out
	nextID ID             // next id for Tx.Create
}

func newBank(cfg Config, c committed) *Bank {
	return &Bank{
		cfg:     cfg,
		log:     cfg.logger(),
		epoch:   c.epoch,
		objs:    c.objs,
		locks:   make(map[ID]*Tx),
		groups:  make(map[GroupID]*group),
		running: make(map[TxID]*Tx),
		seq:     c.seq,
		nextID:  c.nextID,
	}
}

// Epoch returns the bank's fencing epoch.
func (b *Bank) Epoch() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.epoch
}

// Stats returns a snapshot of the bank's counters.
func (b *Bank) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stats
	s.Epoch, s.Objects, s.Running, s.Seq, s.Joining = b.epoch, len(b.objs), len(b.running), b.seq, b.joining
	return s
}

// Dump returns a copy of every committed object (for tests and inspection).
func (b *Bank) Dump() map[ID][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return dumpObjects(b.objs)
}

func dumpObjects(objs map[ID]*object) map[ID][]byte {
	out := make(map[ID][]byte, len(objs))
	for id, o := range objs {
		out[id] = append([]byte(nil), o.data...)
	}
	return out
}

// Close stops the bank: running transactions can no longer commit and the
// mirror is closed.
func (b *Bank) Close() error {
	b.stop(crashed)
	return nil
}

// stop moves the bank out of the live state and closes the mirror, so a
// simulated crash sends nothing more to the backup.
func (b *Bank) stop(s bankState) {
	b.mu.Lock()
	if b.state == live {
		b.state = s
	}
	m := b.mirror
	b.mu.Unlock()
	if m != nil && s == crashed {
		_ = m.Close()
	}
}

// fail runs the failpoint hook at point; an error crashes the bank.
func (b *Bank) fail(point string) error {
	err := b.cfg.Failpoint.At(point, "")
	if err == nil {
		return nil
	}
	b.log.Info("failpoint crash", zap.String("point", point))
	b.stop(crashed)
	return fmt.Errorf("%w: %w", ErrCrashed, err)
}

// liveErr reports why the bank accepts no work; mu must be held.
func (b *Bank) liveErr() error {
	switch b.state {
	case crashed:
		return ErrCrashed
	case fenced:
		return ErrFenced
	}
	return nil
}

// Begin starts a read-write transaction.
func (b *Bank) Begin() *Tx { return b.begin(false) }

func (b *Bank) begin(readOnly bool) *Tx {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextTx++
	tx := &Tx{b: b, id: b.nextTx, readOnly: readOnly, done: make(chan struct{})}
	b.running[tx.id] = tx
	return tx
}

// Update runs fn in a new transaction and commits it when fn returns nil;
// it aborts when fn returns an error or panics (the panic is re-raised).
func (b *Bank) Update(ctx context.Context, fn func(tx *Tx) error) (err error) {
	tx := b.Begin()
	defer abortOnPanic(tx)
	if err := fn(tx); err != nil {
		tx.Abort()
		return err
	}
	return tx.Commit(ctx)
}

// View runs fn in a read-only transaction; it validates the reads at the
// end so fn saw a consistent (serializable) state, or returns ErrConflict.
func (b *Bank) View(ctx context.Context, fn func(tx *Tx) error) error {
	tx := b.begin(true)
	defer abortOnPanic(tx)
	if err := fn(tx); err != nil {
		tx.Abort()
		return err
	}
	return tx.Commit(ctx)
}

func abortOnPanic(tx *Tx) {
	if r := recover(); r != nil {
		tx.Abort()
		panic(r)
	}
}
