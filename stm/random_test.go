package stm

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/stretchr/testify/require"
)

// crashPlan is one round's injected crash: at point, on one side, after
// countdown hits.
type crashPlan struct {
	point     string
	primary   bool
	countdown atomic.Int32
	fired     atomic.Bool
}

// world is a primary/backup pair under random transactions and crashes.
type world struct {
	t      *testing.T
	seed   uint64
	plan   atomic.Pointer[crashPlan]
	b      *Bank   // current primary; changes only between rounds
	k      *Backup // current backup
	era    int     // takeovers so far
	h      history
	intent sync.Map // GroupID → bool: the decision an initiator took
	groups atomic.Uint64
	mode   mirrorMode
	served chan struct{} // remote: closed when the current ServeBackup returned
	path   string        // file: the log
	fm     *FileMirror   // file: the current log mirror
}

// mirrorMode is what stands behind the primary's Mirror.
type mirrorMode int

const (
	inProcess mirrorMode = iota // LocalMirror
	overTCP                     // RemoteMirror over loopback TCP
	onFile                      // FileMirror: a takeover replays the log
)

const randomObjects = 6

func (w *world) hook(primary bool) failpoint.Hook {
	return func(point, _ string) error {
		p := w.plan.Load()
		if p == nil || p.primary != primary || p.point != point || p.fired.Load() {
			return nil
		}
		if p.countdown.Add(-1) > 0 {
			return nil
		}
		if p.fired.CompareAndSwap(false, true) {
			return errInjected
		}
		return nil
	}
}

func (w *world) attachNewBackup(ctx context.Context) {
	if w.mode == onFile {
		w.attachFile(ctx)
		return
	}
	k := NewBackup(BackupConfig{Failpoint: w.hook(false)})
	var m Mirror = NewLocalMirror(k)
	if w.mode == overTCP {
		m, w.served = serveRemote(w.t, k, RemoteConfig{})
	}
	require.NoError(w.t, w.b.Attach(ctx, m), "seed %d", w.seed)
	w.k = k
}

// attachFile (re)attaches the log, opening it first if needed.
func (w *world) attachFile(ctx context.Context) {
	if w.fm == nil {
		fm, err := OpenFile(w.path, FileConfig{MaxRecord: 4096})
		require.NoError(w.t, err, "seed %d", w.seed)
		w.fm = fm
		w.t.Cleanup(func() { _ = fm.Close() })
	}
	require.NoError(w.t, w.b.Attach(ctx, w.fm), "seed %d", w.seed)
	w.k = w.fm.Recovered()
}

// Reference: §3.3, Figure 5 — random concurrent transactions and groups,
// random crashes of either bank at any phase boundary, takeovers and
// re-attached backups; after every round the survivor equals the model built
// from the transactions reported committed (plus those whose commit raced
// the crash and are proven committed by their marker), and the history is
// serializable. Rerun a failure with FTM_STM_SEED=<seed>; FTM_SOAK=1 runs
// longer.
func TestRandomizedCrashesAndTakeovers(t *testing.T) { randomized(t, inProcess) }

// The same over a RemoteMirror on loopback TCP.
func TestRandomizedCrashesAndTakeoversRemote(t *testing.T) { randomized(t, overTCP) }

// The same with the file-backed bank: each primary crash is followed by a
// replay of the log (a restart after power loss), which must hold exactly
// the committed transactions.
func TestRandomizedCrashesFileReplay(t *testing.T) { randomized(t, onFile) }

func randomized(t *testing.T, mode mirrorMode) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FTM_STM_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
		seed = v
	}
	t.Logf("seed %d (rerun: FTM_STM_SEED=%d go test -run TestRandomizedCrashesAndTakeovers ./stm/)", seed, seed)
	rounds, ops := [...]int{40, 20, 10}[mode], [...]int{40, 40, 12}[mode]
	if os.Getenv("FTM_SOAK") != "" {
		rounds, ops = 300, 200
	}
	ctx := context.Background()
	w := &world{t: t, seed: seed, mode: mode, path: filepath.Join(t.TempDir(), "stm.log")}
	w.b = NewBank(Config{Failpoint: w.hook(true)})
	w.attachNewBackup(ctx)
	rng := rand.New(rand.NewPCG(seed, 0))
	crashes := map[bool]int{}
	for r := range rounds {
		plan := w.newPlan(rng, ops)
		w.plan.Store(plan)
		join := plan.point == "" && rng.IntN(2) == 0
		w.runWorkers(ctx, r, ops, join)
		w.plan.Store(nil)
		if plan.fired.Load() {
			w.failover(ctx, plan.primary)
			crashes[plan.primary]++
		}
		w.verify()
	}
	require.NoError(t, w.h.check(), "seed %d", seed)
	committed := len(w.h.committedInOrder())
	t.Logf("%d transactions, %d committed, %d primary crashes, %d backup crashes",
		len(w.h.recs), committed, crashes[true], crashes[false])
	require.Positive(t, committed)
}

func (w *world) newPlan(rng *rand.Rand, ops int) *crashPlan {
	p := &crashPlan{primary: rng.IntN(2) == 0 || w.mode == onFile}
	if rng.IntN(5) == 0 {
		return p // no crash this round
	}
	points := BackupFailpoints
	if p.primary {
		points = PrimaryFailpoints
	}
	p.point = points[rng.IntN(len(points))]
	p.countdown.Store(int32(1 + rng.IntN(ops)))
	return p
}

// runWorkers runs 4 workers; with join, a new backup joins meanwhile
// (a full copy while commits and groups go on).
func (w *world) runWorkers(ctx context.Context, round, ops int, join bool) {
	var wg sync.WaitGroup
	if join {
		wg.Go(func() { w.attachNewBackup(ctx) })
	}
	for i := range 4 {
		rng := rand.New(rand.NewPCG(w.seed, uint64(round*16+i+1)))
		wg.Go(func() {
			for range ops {
				if !w.op(ctx, rng) {
					return
				}
			}
		})
	}
	wg.Wait()
}

// op runs one standalone transaction or one group; false once the bank
// stopped answering (a crash).
func (w *world) op(ctx context.Context, rng *rand.Rand) bool {
	if rng.IntN(5) == 0 {
		return w.groupOp(ctx, rng)
	}
	r := w.h.begin(w.era)
	tx := w.b.Begin()
	err := w.body(tx, r, rng, rng.IntN(4) == 0)
	if err == nil {
		err = tx.Commit(ctx)
	} else {
		tx.Abort()
	}
	r.seq = tx.Seq()
	return settle(r, err)
}

func settle(r *rec, err error) bool {
	switch {
	case err == nil:
		r.status = stCommitted
	case errors.Is(err, ErrConflict):
		r.status = stAborted
	default:
		r.status = stMaybe
		return false
	}
	return true
}

// body reads some objects, then (unless readOnly) writes some with the
// transaction's tag and creates its marker.
func (w *world) body(tx *Tx, r *rec, rng *rand.Rand, readOnly bool) error {
	ids := rng.Perm(randomObjects)[:1+rng.IntN(3)]
	for _, i := range ids[:rng.IntN(len(ids)+1)] {
		v, err := tx.Bytes(ID(i + 1))
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		r.reads[ID(i+1)] = string(v)
	}
	if readOnly {
		return nil
	}
	val := strconv.Itoa(r.tag)
	for _, i := range ids[:1+rng.IntN(len(ids))] {
		if err := tx.Put(ID(i+1), []byte(val)); err != nil {
			return err
		}
		r.writes = append(r.writes, ID(i+1))
	}
	return tx.Put(markerID(r.tag), []byte("1"))
}

// groupOp precommits two transactions into a fresh group and decides it,
// as a checkpoint initiator would: abort if a member failed, else commit
// three times out of four.
func (w *world) groupOp(ctx context.Context, rng *rand.Rand) bool {
	g := GroupID(w.groups.Add(1))
	var members []*rec
	failed, alive := false, true
	for range 2 {
		r := w.h.begin(w.era)
		r.group = g
		tx := w.b.Begin()
		err := w.body(tx, r, rng, false)
		if err == nil {
			err = tx.Precommit(ctx, g)
		} else {
			tx.Abort()
		}
		r.seq = tx.Seq()
		if err != nil {
			failed = true
			alive = settle(r, err) && alive
			continue
		}
		members = append(members, r)
	}
	commit := !failed && rng.IntN(4) != 0
	w.intent.Store(g, commit)
	err := w.b.Decide(ctx, g, commit)
	for _, r := range members {
		switch {
		case err == nil || errors.Is(err, ErrBackupLost):
			r.status = map[bool]txStatus{true: stCommitted, false: stAborted}[commit]
		default:
			r.status = stMaybe
		}
	}
	return alive && err == nil
}

// failover replaces the dead bank: a takeover when the primary died (the
// in-doubt groups get their initiator's decision, abort if none was taken),
// a fresh backup either way.
func (w *world) failover(ctx context.Context, primaryDied bool) {
	if !primaryDied {
		w.attachNewBackup(ctx)
		return
	}
	switch w.mode {
	case overTCP:
		<-w.served // the backup notices the link died before taking over
	case onFile:
		w.reopenLog()
	}
	nb, rep, err := w.k.Takeover(ctx, Config{Failpoint: w.hook(true)})
	require.NoError(w.t, err, "seed %d", w.seed)
	w.b = nb
	w.era++
	w.attachNewBackup(ctx)
	for g := range rep.InDoubt {
		commit, _ := w.intent.Load(g)
		err := nb.Decide(ctx, g, commit == true)
		require.NoError(w.t, err, "seed %d: decide in-doubt group %d", w.seed, g)
	}
}

// reopenLog replays the log from disk, as a restart would.
func (w *world) reopenLog() {
	_ = w.fm.Close()
	fm, err := OpenFile(w.path, FileConfig{MaxRecord: 4096})
	require.NoError(w.t, err, "seed %d: replay", w.seed)
	w.fm, w.k = fm, fm.Recovered()
	w.t.Cleanup(func() { _ = fm.Close() })
}

// verify checks the survivor against the model and the backup against the
// survivor.
func (w *world) verify() {
	survivor := w.b.Dump()
	w.h.resolve(survivor)
	require.Equal(w.t, w.h.model(), strMap(survivor), "seed %d: survivor differs from the model", w.seed)
	require.Equal(w.t, strMap(survivor), strMap(w.k.Dump()), "seed %d: backup differs from primary", w.seed)
	require.Empty(w.t, w.b.Stats().Running, "seed %d: transactions left running", w.seed)
}
