package servers

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// Issue 5/7: a reliable server's bank is taken over while the server's S
// is precommitted in the group of a checkpoint whose initiator runs on the
// other node. The takeover leaves the group in doubt (PendingGroups names
// it, as pair's Defer does in ftmctl), the server's driver restarts on the
// taken-over bank, asks the initiator and applies its decision: S holds the
// update exactly once when the initiator committed, and not at all when
// it aborted. Before the fix the takeover presumed abort and the committed
// checkpoint lost the server's S.
func TestTakeoverKeepsPrecommittedServerGroupInDoubt(t *testing.T) {
	for _, at := range []string{ru.FPBeforePersist, FPBeforeDecide} {
		t.Run("commit/"+at, func(t *testing.T) { takeoverInDoubt(t, false, at) })
		t.Run("abort/"+at, func(t *testing.T) { takeoverInDoubt(t, true, at) })
	}
}

// recordOf reads a unit's saved record from bank (zero when absent).
func recordOf(b *stm.Bank, unit string) unitRecord {
	tx := b.Begin()
	defer tx.Abort()
	buf, err := tx.Bytes(recordID(unit))
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
func committedIn(t *testing.T, b *stm.Bank, name string) counters {
	tx := b.Begin()
	defer tx.Abort()
	buf, err := tx.Bytes(stateID(name))
	if errors.Is(err, stm.ErrNotFound) {
		return newCounters()
	}
	require.NoError(t, err)
	st, err := stm.Decode[stable[counters]](buf)
	require.NoError(t, err)
	return st.State
}

// takeoverInDoubt stops kv's node at failpoint at: "ru.before-persist"
// with its record Precommitted (the decision received, not saved), or
// FPBeforeDecide (the decision saved in the record, the group not decided
// in STM).
func takeoverInDoubt(t *testing.T, abort bool, at string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	nx, ny := kernel.NewNode(kernel.Config{Name: "x"}), kernel.NewNode(kernel.Config{Name: "y"})
	defer nx.Shutdown()
	defer ny.Shutdown()
	lx, ly := link.NewMemPair("x", "y", link.MemConfig{})
	require.NoError(t, nx.AttachLink(lx))
	require.NoError(t, ny.AttachLink(ly))

	bankX := stm.NewBank(stm.Config{Logger: log})
	require.NoError(t, bankX.Attach(ctx, stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{}))))
	bkY := stm.NewBackup(stm.BackupConfig{})
	bankY := stm.NewBank(stm.Config{Logger: log})
	require.NoError(t, bankY.Attach(ctx, stm.NewLocalMirror(bkY)))

	type host struct {
		task   *kernel.Task
		driver *Driver
		stop   func()
	}
	newHost := func(n *kernel.Node, name string, bank *stm.Bank, fail func(point, unit string) bool) *host {
		task, err := n.NewTask(name)
		require.NoError(t, err)
		d, err := NewDriver(DriverConfig{Host: name, Task: task, Bank: bank, Names: names.NewKernel(task, log),
			TickPeriod: 2 * time.Millisecond, Logger: log, Fail: crashWhen(fail)})
		require.NoError(t, err)
		d.Start()
		return &host{task: task, driver: d}
	}
	serve := func(h *host, name string) {
		srv := newCounterServer(Config{Name: name, Driver: h.driver, Logger: log})
		sctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- srv.Run(sctx) }()
		h.stop = func() { stop(); <-done; h.driver.Close() }
	}

	// kv's node "dies" at failpoint at once its S is precommitted in bank
	// Y: the driver blocks there, holding its lock, until the test has
	// taken bank Y over.
	frozen, release := make(chan struct{}), make(chan struct{})
	var freezeOnce sync.Once
	freeze := func(point, unit string) bool {
		if point != at || unit != "kv" || (at == ru.FPBeforePersist && !precommitted(bankY, "kv")) {
			return false
		}
		hit := false
		freezeOnce.Do(func() { hit = true })
		if !hit {
			return true // the dead node does nothing more
		}
		close(frozen)
		<-release
		return true
	}
	hy := newHost(ny, "hy", bankY, freeze)
	serve(hy, "kv")
	hx := newHost(nx, "hx", bankX, nil)
	defer hx.driver.Close()
	app, err := NewClient(ClientConfig{Name: "app", Driver: hx.driver, Logger: log, Timeout: time.Second})
	require.NoError(t, err)
	defer app.Close()

	if abort {
		// A second member of the checkpoint fails its precommit once kv's
		// is stable: its unit restarts and its RU aborts, so the initiator
		// decides abort.
		var once sync.Once
		crash := func(point, unit string) bool {
			if point != FPAfterPrecommit || unit != "kv2" {
				return false
			}
			hit := false
			once.Do(func() { hit = true })
			if hit {
				deadline := time.Now().Add(5 * time.Second)
				for !precommitted(bankY, "kv") && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
			}
			return hit
		}
		hx2 := newHost(nx, "hx2", bankX, crash)
		serve(hx2, "kv2")
		defer hx2.stop()
		require.Eventually(t, func() bool {
			_, err := mAdd("kv2").Call(ctx, app, addReq{Key: "x", By: 1, Tag: "u1"})
			return err == nil
		}, waitFor, 5*time.Millisecond, "kv2 never answered")
	}
	ckpt := addThenFreeze(ctx, t, app, frozen)
	g := stm.GroupID(recordOf(bankY, "kv").Group)
	require.NotZero(t, g)

	// Take bank Y over from its backup: the group is in doubt there, and
	// PendingGroups says kv's driver owns it, so it is left undecided.
	bankY2, rep, err := bkY.Takeover(ctx, stm.Config{Logger: log})
	require.NoError(t, err)
	require.Contains(t, rep.InDoubt, g)
	require.True(t, inGroup(bankY2, g))
	pending, err := PendingGroups(ctx, bankY2)
	require.NoError(t, err)
	require.Equal(t, map[stm.GroupID]bool{g: true}, pending)
	for og := range rep.InDoubt { // what pair's takeover does: presumed abort for the others
		if !pending[og] {
			require.NoError(t, bankY2.Decide(ctx, og, false))
		}
	}
	_ = bankY.Close()
	close(release)
	hy.stop()
	hy.task.Terminate()
	// The new primary gets a backup (re-protection) while g is in doubt.
	bkY2 := stm.NewBackup(stm.BackupConfig{})
	require.NoError(t, bankY2.Attach(ctx, stm.NewLocalMirror(bkY2)))

	// kv's driver restarts on the taken-over bank and asks the initiator.
	hy2 := newHost(ny, "hy", bankY2, nil)
	serve(hy2, "kv")
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
	require.Eventually(t, func() bool {
		rec := recordOf(bankY2, "kv")
		return rec.State != nil && rec.State.Phase != ru.Precommitted && !inGroup(bankY2, g)
	}, waitFor, time.Millisecond, "kv never applied the initiator's decision")
	st := committedIn(t, bankY2, "kv")
	require.Equal(t, want, slices.Clip(st.Log), "kv's committed S")
	require.Equal(t, 4*len(want), st.N["x"])

	// The new backup got the same outcome: a second takeover shows it.
	bankY3, rep, err := bkY2.Takeover(ctx, stm.Config{Logger: log})
	require.NoError(t, err)
	require.Empty(t, rep.InDoubt)
	require.Equal(t, want, slices.Clip(committedIn(t, bankY3, "kv").Log), "kv's S on the new backup")
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
