package servers

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/kerneltest"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// A reliable server's bank is taken over while the server's S
// is precommitted in the group of a checkpoint whose initiator runs on the
// other node. The takeover leaves the group in doubt (PendingGroups names
// it, as pair's Defer does in ftmctl), the server's driver restarts on the
// taken-over bank, asks the initiator and applies its decision: S holds the
// update exactly once when the initiator committed, and not at all when
// it aborted. Before the fix the takeover presumed abort and the committed
// checkpoint lost the server's S.
func TestTakeoverKeepsPrecommittedServerGroupInDoubt(t *testing.T) {
	for _, kind := range kinds {
		for _, at := range []string{ru.FPBeforePersist, FPBeforeDecide} {
			t.Run(kind.name+"/commit/"+at, func(t *testing.T) { takeoverInDoubt(t, false, at, kind) })
			t.Run(kind.name+"/abort/"+at, func(t *testing.T) { takeoverInDoubt(t, true, at, kind) })
		}
	}
}

// recordOf reads a unit's saved record from bank (zero when absent).
func recordOf(b *stm.Bank, unit string) unitRecord {
	tx := b.Begin()
	defer tx.Abort()
	buf, err := tx.Bytes(stableID(tx, recordName(unit)))
	if err != nil {
		return unitRecord{}
	}
	rec, _ := decodeAny[unitRecord](buf)
	return rec
}

// inGroup says whether a transaction of group g is still undecided in b.
func inGroup(b *stm.Bank, g stm.GroupID) bool {
	for _, tx := range b.Transactions() {
		if tx.Group == g {
			return true
		}
	}
	return false
}

func precommitted(b *stm.Bank, unit string) bool {
	rec := recordOf(b, unit)
	return rec.State != nil && rec.State.Phase == ru.Precommitted && rec.Group != 0
}

// committedIn reads a counter server's committed state from bank b.
func (r *nodesRig) committedIn(b *stm.Bank, name string) counters {
	return r.serverKind().committed(r.t, b, name)
}

func (r *nodesRig) serverKind() serverKind {
	if r.kind.build == nil {
		return wholeKind
	}
	return r.kind
}

// takeoverInDoubt stops kv's node at failpoint at: "ru.before-persist"
// with its record Precommitted (the decision received, not saved), or
// FPBeforeDecide (the decision saved in the record, the group not decided
// in STM).
func takeoverInDoubt(t *testing.T, abort bool, at string, kind serverKind) {
	r := newInDoubtRig(t)
	r.kind = kind
	defer r.close()
	frozen, release := make(chan struct{}), make(chan struct{})
	hy := r.newHost(r.ny, "hy", r.bankY, freezeAt(at, r.bankY, frozen, release))
	r.serve(hy, "kv")
	hx := r.newHost(r.nx, "hx", r.bankX, nil)
	defer hx.driver.Close()
	app, err := NewClient(ClientConfig{Name: "app", Driver: hx.driver, Logger: r.log, Timeout: time.Second})
	require.NoError(t, err)
	defer app.Close()
	if abort {
		defer r.failSecondMember(app)()
	}
	ckpt := addThenFreeze(r.ctx, t, app, frozen)
	g := stm.GroupID(recordOf(r.bankY, "kv").Group)
	require.NotZero(t, g)

	bankY2, bkY2 := r.takeoverLeavesInDoubt(g)
	close(release)
	hy.stop()
	hy.task.Terminate()

	// kv's driver restarts on the taken-over bank and asks the initiator.
	hy2 := r.newHost(r.ny, "hy", bankY2, nil)
	r.serve(hy2, "kv")
	defer hy2.stop()
	select {
	case err := <-ckpt:
		if abort {
			require.Error(t, err, "the checkpoint aborted")
		} else {
			require.NoError(t, err)
		}
	case <-time.After(waitFor):
		t.Fatal("the initiator's checkpoint never ended")
	}
	want := []string{"t1"}
	if abort {
		want = nil
	}
	r.checkDecisionApplied(bankY2, bkY2, g, want)
}

// nodesRig is two kernel nodes on a link, x and y, where the multi-node
// tests run drivers and counter servers.
type nodesRig struct {
	t      *testing.T
	ctx    context.Context
	cancel context.CancelFunc
	log    *zap.Logger
	nx, ny *kernel.Node
	kind   serverKind // the counter servers' state: whole (default) or by object
}

// nodeHost is one driver of a nodesRig, with the task it runs in; stop
// (once) stops its server and closes the driver, at the latest at cleanup.
type nodeHost struct {
	task   *kernel.Task
	driver *Driver
	stop   func()
}

func newNodesRig(t *testing.T) *nodesRig {
	r := &nodesRig{t: t, log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.nx, r.ny = kerneltest.LinkedNodes(t, "x", "y")
	return r
}

func (r *nodesRig) close() {
	r.cancel()
	r.ny.Shutdown()
	r.nx.Shutdown()
}

func (r *nodesRig) newHost(n *kernel.Node, name string, bank *stm.Bank, fail func(point, unit string) bool) *nodeHost {
	task, err := n.NewTask(name)
	require.NoError(r.t, err)
	d, err := NewDriver(DriverConfig{Host: name, Task: task, Bank: bank, Names: names.NewKernel(task, r.log),
		TickPeriod: 2 * time.Millisecond, Logger: r.log, Fail: crashWhen(fail)})
	require.NoError(r.t, err)
	d.Start()
	h := &nodeHost{task: task, driver: d, stop: d.Close}
	r.t.Cleanup(func() { h.stop() })
	return h
}

func (r *nodesRig) serve(h *nodeHost, name string) {
	srv := r.serverKind().build(Config{Name: name, Driver: h.driver, Logger: r.log})
	sctx, stop := context.WithCancel(r.ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(sctx) }()
	var once sync.Once
	h.stop = func() { once.Do(func() { stop(); <-done; h.driver.Close() }) }
}

// freezeAt is kv's failpoint: its node "dies" at point at once its S is
// precommitted in bank: the first hit blocks the driver there, holding its
// lock, until the test has taken the bank over (release); every later hit
// crashes kv (the dead node does nothing more).
func freezeAt(at string, bank *stm.Bank, frozen, release chan struct{}) func(point, unit string) bool {
	var once sync.Once
	return func(point, unit string) bool {
		if point != at || unit != "kv" || (at == ru.FPBeforePersist && !precommitted(bank, "kv")) {
			return false
		}
		hit := false
		once.Do(func() { hit = true })
		if hit {
			close(frozen)
			<-release
		}
		return true
	}
}

// inDoubtRig runs the application (and, for an abort, a second server)
// on node x over bank X, and kv on node y over bank Y, mirrored to backup
// bkY, which the test takes over.
type inDoubtRig struct {
	*nodesRig
	bankX, bankY *stm.Bank
	bkY          *stm.Backup
}

func newInDoubtRig(t *testing.T) *inDoubtRig {
	r := &inDoubtRig{nodesRig: newNodesRig(t)}
	r.bankX = stm.NewBank(stm.Config{Logger: r.log})
	stmtest.Protect(t, r.bankX)
	r.bankY = stm.NewBank(stm.Config{Logger: r.log})
	r.bkY = stmtest.Protect(t, r.bankY)
	return r
}

// failSecondMember serves kv2 on node x, a second member of the checkpoint
// that fails its precommit once kv's is stable: its unit restarts and its
// RU aborts, so the initiator decides abort. It returns kv2's stop.
func (r *inDoubtRig) failSecondMember(app *Client) func() {
	var once sync.Once
	crash := func(point, unit string) bool {
		if point != FPAfterPrecommit || unit != "kv2" {
			return false
		}
		hit := false
		once.Do(func() { hit = true })
		if hit {
			deadline := time.Now().Add(5 * time.Second)
			for !precommitted(r.bankY, "kv") && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		}
		return hit
	}
	hx2 := r.newHost(r.nx, "hx2", r.bankX, crash)
	r.serve(hx2, "kv2")
	require.Eventually(r.t, func() bool {
		_, err := mAdd("kv2").Call(r.ctx, app, addReq{Key: "x", By: 1, Tag: "u1"})
		return err == nil
	}, waitFor, 5*time.Millisecond, "kv2 never answered")
	return hx2.stop
}

// takeoverLeavesInDoubt takes bank Y over from its backup: the group g is
// in doubt there, and PendingGroups says kv's driver owns it, so it is
// left undecided while the others are presumed aborted (what pair's
// takeover does). The new primary gets a backup (re-protection) while g
// is in doubt.
func (r *inDoubtRig) takeoverLeavesInDoubt(g stm.GroupID) (*stm.Bank, *stm.Backup) {
	t := r.t
	bankY2, rep, err := r.bkY.Takeover(r.ctx, stm.Config{Logger: r.log})
	require.NoError(t, err)
	require.Contains(t, rep.InDoubt, g)
	require.True(t, inGroup(bankY2, g))
	pending, err := PendingGroups(r.ctx, bankY2, slices.Collect(maps.Keys(rep.InDoubt)))
	require.NoError(t, err)
	require.Equal(t, map[stm.GroupID]bool{g: true}, pending)
	for og := range rep.InDoubt { // what pair's takeover does: presumed abort for the others
		if !pending[og] {
			require.NoError(t, bankY2.Decide(r.ctx, og, false))
		}
	}
	_ = r.bankY.Close()
	bkY2 := stmtest.Protect(t, bankY2)
	return bankY2, bkY2
}

// checkDecisionApplied waits until kv applied the initiator's decision on
// bankY2, checks kv's committed S, and that the new backup bkY2 got the
// same outcome (a second takeover shows it).
func (r *inDoubtRig) checkDecisionApplied(bankY2 *stm.Bank, bkY2 *stm.Backup, g stm.GroupID, want []string) {
	t := r.t
	require.Eventually(t, func() bool {
		rec := recordOf(bankY2, "kv")
		return rec.State != nil && rec.State.Phase != ru.Precommitted && !inGroup(bankY2, g)
	}, waitFor, time.Millisecond, "kv never applied the initiator's decision")
	st := r.committedIn(bankY2, "kv")
	require.Equal(t, want, slices.Clip(st.Log), "kv's committed S")
	require.Equal(t, 4*len(want), st.N["x"])
	bankY3, rep, err := bkY2.Takeover(r.ctx, stm.Config{Logger: r.log})
	require.NoError(t, err)
	require.Empty(t, rep.InDoubt)
	require.Equal(t, want, slices.Clip(r.committedIn(bankY3, "kv").Log), "kv's S on the new backup")
	_ = bankY3.Close()
}

// addThenFreeze calls kv's add from app until kv answers, starts app's
// checkpoint and waits until kv is frozen at the decision with its S
// precommitted; the checkpoint's result comes on the channel returned.
func addThenFreeze(ctx context.Context, t *testing.T, app *Client, frozen <-chan struct{}) chan error {
	t.Helper()
	require.Eventually(t, func() bool {
		_, err := mAdd("kv").Call(ctx, app, addReq{Key: "x", By: 4, Tag: "t1"})
		return err == nil
	}, waitFor, 5*time.Millisecond, "kv never answered")
	ckpt := make(chan error, 1)
	go func() { ckpt <- app.Checkpoint(ctx) }()
	select {
	case <-frozen:
	case <-time.After(waitFor):
		t.Fatal("kv never reached the decision with its S precommitted")
	}
	return ckpt
}
