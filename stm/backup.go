package stm

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/kernel/link"
	"go.uber.org/zap"
)

// BackupConfig configures a backup bank. The zero value is valid.
type BackupConfig struct {
	// Logger receives structured events; nil means zap.NewNop().
	Logger *zap.Logger
	// Failpoint, as in Config, at the backup's failpoints (BackupFailpoints).
	// An error simulates the backup machine dying there. It is called with
	// the backup's lock held and must not call back into it.
	Failpoint failpoint.Hook
}

type backupState uint8

const (
	backupEmpty    backupState = iota // no copy yet
	backupLoading                     // receiving a full copy
	backupReady                       // complete: can take over
	backupPromoted                    // took over; refuses the old primary
	backupCrashed                     // died at a failpoint or closed
)

// Backup is the backup bank (paper §3.3): the partner machine's copy of the
// committed objects, plus the new versions of transactions in phase 2.
//
// Invariant: the backup holds at most two versions of an object, the
// committed one and the new one of the single transaction (holding the
// primary's write lock) that shipped it in phase 1.
type Backup struct {
	cfg BackupConfig
	log *zap.Logger

	mu       sync.Mutex        // guards every field below
	state    backupState       // see backupState
	epoch    uint64            // epoch of the primary it mirrors
	objs     map[ID]*object    // committed versions
	tomb     map[ID]uint64     // deletions seen while loading (id → seq)
	prepared map[TxID]*Prepare // phase 2: new versions awaiting a decision
	seq      uint64            // highest commit sequence seen
	nextID   ID                // highest id allocator seen
	copied   int               // bytes compactLocked copied out of frames (tests)
}

// NewBackup returns an empty backup bank, waiting for a primary to Attach.
func NewBackup(cfg BackupConfig) *Backup {
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Backup{cfg: cfg, log: log, objs: make(map[ID]*object),
		prepared: make(map[TxID]*Prepare), nextID: FirstAllocatedID}
}

// failLocked runs the failpoint hook at point; an error kills the backup.
func (k *Backup) failLocked(point string) error {
	if err := k.cfg.Failpoint.At(point, ""); err != nil {
		k.state = backupCrashed
		k.log.Info("failpoint crash", zap.String("point", point))
		return fmt.Errorf("%w: backup %w", ErrCrashed, err)
	}
	return nil
}

// checkLocked refuses messages from anything but the current primary.
func (k *Backup) checkLocked(epoch uint64) error {
	switch {
	case k.state == backupCrashed:
		return ErrCrashed
	case k.state == backupPromoted:
		return fmt.Errorf("backup took over at epoch %d: %w", k.epoch+1, ErrFenced)
	case k.state == backupEmpty:
		return fmt.Errorf("%w: backup has not been attached", ErrNoBackup)
	case epoch != k.epoch:
		return fmt.Errorf("message epoch %d, backup epoch %d: %w", epoch, k.epoch, ErrFenced)
	}
	return nil
}

// Crash stops the backup as if its machine died.
func (k *Backup) Crash() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.state = backupCrashed
}

// Ready reports whether the backup holds a complete copy.
func (k *Backup) Ready() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.state == backupReady
}

// Dump returns a copy of the committed objects the backup holds.
func (k *Backup) Dump() map[ID][]byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return dumpObjects(k.objs)
}

// InDoubt returns the transactions held in phase 2, by group.
func (k *Backup) InDoubt() map[GroupID][]TxID {
	k.mu.Lock()
	defer k.mu.Unlock()
	return inDoubt(k.prepared)
}

func inDoubt(prepared map[TxID]*Prepare) map[GroupID][]TxID {
	out := make(map[GroupID][]TxID)
	for _, p := range prepared {
		out[p.Group] = append(out[p.Group], p.Tx)
	}
	for _, txs := range out {
		sort.Slice(txs, func(i, j int) bool { return txs[i] < txs[j] })
	}
	return out
}

// prepare handles phase 1. The backup owns p and its data from now on.
func (k *Backup) prepare(p *Prepare) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.checkLocked(p.Epoch); err != nil {
		return err
	}
	if err := k.failLocked(FPBackupPrepareReceived); err != nil {
		return err
	}
	k.nextID = max(k.nextID, p.NextID)
	k.seq = max(k.seq, p.commitSeq())
	if p.Commit {
		k.applyLocked(p.Writes)
	} else {
		k.prepared[p.Tx] = p
	}
	return k.failLocked(FPBackupPrepareStored)
}

// decide handles phase 3 of a group.
func (k *Backup) decide(d *Decision) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.checkLocked(d.Epoch); err != nil {
		return err
	}
	if err := k.failLocked(FPBackupDecideReceived); err != nil {
		return err
	}
	k.resolveLocked(d.Group, d.Commit)
	return k.failLocked(FPBackupDecideApplied)
}

// resolveLocked commits or aborts every prepared member of g, dropping the
// losing versions.
func (k *Backup) resolveLocked(g GroupID, commit bool) {
	ids := make([]TxID, 0)
	for id, p := range k.prepared {
		if p.Group == g {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		if commit {
			k.applyLocked(k.prepared[id].Writes)
		}
		delete(k.prepared, id)
	}
}

// applyLocked installs new versions, never replacing a newer one (a full
// copy racing with commits may deliver an object after its next version).
// Frames whose versions were replaced are compacted once the whole batch
// is in, so versions the same batch replaces are never copied out first,
// and given back to their link once nothing aliases them.
func (k *Backup) applyLocked(ws []Write) {
	var dropped []*frameMem
	for i := range ws {
		w := &ws[i]
		k.seq = max(k.seq, w.Seq)
		if o := k.objs[w.ID]; o != nil && o.seq > w.Seq {
			continue
		}
		if t, ok := k.tomb[w.ID]; ok && t > w.Seq {
			continue
		}
		if mem := k.releaseLocked(w.ID); mem != nil {
			dropped = append(dropped, mem)
		}
		if w.Deleted {
			delete(k.objs, w.ID)
			if k.tomb != nil {
				k.tomb[w.ID] = w.Seq
			}
			continue
		}
		k.objs[w.ID] = &object{data: w.Data, seq: w.Seq, mem: w.mem}
		if w.mem != nil {
			w.mem.live += len(w.Data)
			w.mem.ids = append(w.mem.ids, w.ID)
			w.mem.applied++
		}
	}
	for _, mem := range dropped {
		k.compactLocked(mem)
		mem.recycleLocked()
	}
}

// load handles one chunk of a full copy.
func (k *Backup) load(c *Chunk) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if c.First {
		if err := k.resetLocked(c); err != nil {
			return err
		}
	} else if err := k.checkLocked(c.Epoch); err != nil {
		return err
	}
	k.nextID = max(k.nextID, c.NextID)
	k.seq = max(k.seq, c.Seq)
	k.applyLocked(c.Objects)
	if c.Last {
		k.state, k.tomb = backupReady, nil
		k.log.Info("backup ready", zap.Uint64("epoch", k.epoch), zap.Int("objects", len(k.objs)))
	}
	return nil
}

// resetLocked starts a full copy from a primary at epoch c.Epoch; an older
// epoch than one already seen is refused.
func (k *Backup) resetLocked(c *Chunk) error {
	if k.state == backupCrashed {
		return ErrCrashed
	}
	if c.Epoch < k.epoch || (k.state == backupPromoted && c.Epoch == k.epoch) {
		return fmt.Errorf("attach at epoch %d, backup at %d: %w", c.Epoch, k.epoch, ErrFenced)
	}
	k.state, k.epoch = backupLoading, c.Epoch
	k.objs, k.tomb = make(map[ID]*object), make(map[ID]uint64)
	k.prepared = make(map[TxID]*Prepare)
	return nil
}

// TakeoverReport says what a takeover found in flight.
type TakeoverReport struct {
	Epoch uint64 // the new primary's epoch
	// InDoubt lists the transactions found in phase 2, by group: they hold
	// their write locks in the new primary until Decide is called for their
	// group (the survivor "resumes waiting for the group decision").
	InDoubt map[GroupID][]TxID
	// Aborted lists transactions found in phase 1 outside any group.
	Aborted []TxID
}

// Takeover makes this backup bank the primary (paper §3.3: failure of the
// primary machine). Transactions in the working phase or phase 1 never
// reached the backup, or are dropped (their old versions win); transactions
// in phase 2 wait for their group decision; transactions whose decision
// already arrived are complete. The new primary's epoch is one more than the
// old, and this backup refuses every later message from the old primary
// (ErrFenced). The new primary has no backup: Attach one before committing.
func (k *Backup) Takeover(ctx context.Context, cfg Config) (*Bank, TakeoverReport, error) {
	if err := ctx.Err(); err != nil {
		return nil, TakeoverReport{}, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	switch k.state {
	case backupCrashed:
		return nil, TakeoverReport{}, ErrCrashed
	case backupReady:
	default:
		return nil, TakeoverReport{}, ErrNotReady
	}
	k.state = backupPromoted
	b := newBank(cfg, committed{epoch: k.epoch + 1, objs: k.objs, seq: k.seq, nextID: k.nextID})
	rep := TakeoverReport{Epoch: b.epoch, InDoubt: make(map[GroupID][]TxID)}
	for _, p := range k.prepared {
		if p.Group == 0 {
			rep.Aborted = append(rep.Aborted, p.Tx)
			continue
		}
		b.adoptInDoubt(p)
	}
	rep.InDoubt = inDoubt(k.prepared)
	delete(rep.InDoubt, 0)
	k.objs, k.prepared = make(map[ID]*object), make(map[TxID]*Prepare)
	b.log.Info("takeover", zap.Uint64("epoch", b.epoch), zap.Int("objects", len(b.objs)),
		zap.Int("in_doubt_groups", len(rep.InDoubt)))
	return b, rep, nil
}

// adoptInDoubt recreates a phase 2 transaction in a new primary: it holds
// its write locks and new versions until its group is decided.
func (b *Bank) adoptInDoubt(p *Prepare) {
	b.mu.Lock()
	defer b.mu.Unlock()
	tx := &Tx{b: b, id: p.Tx, done: make(chan struct{}), phase: Phase2, seq: p.commitSeq(), group: p.Group,
		writes: make(map[ID]*version, len(p.Writes))}
	for _, w := range p.Writes {
		tx.writes[w.ID] = &version{data: w.Data, deleted: w.Deleted}
		tx.order = append(tx.order, w.ID)
		b.locks[w.ID] = tx
	}
	b.nextTx = max(b.nextTx, p.Tx)
	b.running[tx.id] = tx
	b.groupLocked(p.Group).members[tx.id] = tx
}

// commitSeq returns the commit sequence carried by the message's writes.
func (p *Prepare) commitSeq() uint64 {
	if len(p.Writes) == 0 {
		return 0
	}
	return p.Writes[0].Seq
}

// frameMem is a received frame body that several versions alias, so no
// version is copied on the commit's path. Guarded by Backup.mu.
type frameMem struct {
	size    int  // bytes of the frame
	live    int  // bytes of committed versions still aliasing it
	ids     []ID // objects that aliased it (some may have moved on)
	entries int  // versions that arrived aliasing it
	applied int  // of those, versions installed as committed

	body   []byte       // the frame's body as received, for recycleLocked
	bodies *link.Bodies // the link that lends it, nil when it is not to be given back
}

// releaseLocked drops object id's claim on its frame and returns the frame
// (for compactLocked and recycleLocked), nil if the version aliased none.
// k.mu held.
func (k *Backup) releaseLocked(id ID) *frameMem {
	o := k.objs[id]
	if o == nil || o.mem == nil {
		return nil
	}
	mem := o.mem
	o.mem = nil
	mem.live -= len(o.data)
	return mem
}

// recycleLocked gives the frame's buffer back to the link it arrived on
// once every version that arrived in it was installed and none aliases it
// any more (replaced, deleted or copied out): the link reads a later large
// frame into it, warm, instead of into a fresh allocation. A frame with a
// version never installed (aborted, superseded, in phase 2, handed to a
// new primary by Takeover) is never given back. Backup.mu held.
func (mem *frameMem) recycleLocked() {
	if mem.bodies == nil || mem.applied < mem.entries || mem.live > 0 {
		return
	}
	mem.bodies.Recycle(mem.body)
	mem.bodies, mem.body = nil, nil
}

// compactLocked copies the surviving versions out of a frame less than half
// live, so the frame can be freed. Each byte is thus copied at most once,
// and not at all when a frame's versions are replaced together (a
// checkpoint rewriting its pages: applyLocked compacts after the batch).
// k.mu held.
func (k *Backup) compactLocked(mem *frameMem) {
	if mem.ids == nil || mem.live*2 >= mem.size {
		return // compacted already, or live again (an id re-aliased it)
	}
	for _, other := range mem.ids {
		if oo := k.objs[other]; oo != nil && oo.mem == mem {
			oo.data, oo.mem = append([]byte(nil), oo.data...), nil
			k.copied += len(oo.data)
		}
	}
	mem.ids, mem.live = nil, 0
}
