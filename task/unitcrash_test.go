package task

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/pager"
	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// haltAt fires once, at the n-th time point is reached for subject: it
// crashes there (the hook's error) and tells the test, which then drops
// every driver, server and task, as a kill of the processes would.
type haltAt struct {
	mu             sync.Mutex
	point, subject string
	n, seen        int
	hit            chan struct{}
}

func (f *haltAt) fail(point, subject string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if point != f.point || subject != f.subject {
		return nil
	}
	f.seen++
	if f.seen != f.n {
		return nil
	}
	close(f.hit)
	return failpoint.ErrCrash
}

func (f *haltAt) fired() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen >= f.n
}

// TestKillAtEveryCheckpointFailpointRestoresOneSet kills everything (every
// driver, server and the task) at each failpoint of a recovery-unit
// task's checkpoint — the drivers' for the task's RU, a segment's unit and
// a server the task called, the pager's and the task's — then restarts
// from the bank, or from its backup taken over: the task's three
// segments, its stable object and the server it called all hold the same
// checkpoint, no older than the last one acknowledged.
func TestKillAtEveryCheckpointFailpointRestoresOneSet(t *testing.T) {
	const task = "b/task1"
	type target struct{ point, subject string }
	var targets []target
	for _, p := range []string{ru.FPBeforePersist, ru.FPAfterPersist, servers.FPAfterPrecommit, servers.FPBeforeDecide, servers.FPAfterDecide} {
		for _, unit := range []string{task, pager.UnitName(task, "data"), "counter"} {
			if unit != task || strings.HasPrefix(p, "ru.") { // the task's RU has no S: no precommit, no group to decide
				targets = append(targets, target{p, unit})
			}
		}
	}
	targets = append(targets, target{pager.FPSavesSent, task}, target{FPCheckpointSave, "task1"}, target{FPCheckpointSaved, "task1"})
	for _, takeover := range []bool{false, true} {
		for _, tg := range targets {
			fired, ran := 0, false
			for n := 1; n <= 3; n++ {
				t.Run(fmt.Sprintf("takeover=%v/%s/%s/%d", takeover, tg.point, tg.subject, n), func(t *testing.T) {
					ran = true
					f := &haltAt{point: tg.point, subject: tg.subject, n: n, hit: make(chan struct{})}
					killScenario(t, f, takeover)
					if f.fired() {
						fired++
					}
				})
			}
			require.True(t, !ran || fired > 0, "failpoint %s of %s never reached", tg.point, tg.subject)
		}
	}
}

// killRun is what the task's checkpoints did before the kill.
type killRun struct {
	mu            sync.Mutex
	lastOK, tried int64
}

func (k *killRun) set(f func()) { k.mu.Lock(); f(); k.mu.Unlock() }

// killScenario runs the stepping task with f armed until f fires (then
// kills everything) or the task ends, and checks the restored set: from
// the same bank, or, with takeover, from its backup promoted (the groups
// in doubt there are left to the restarted drivers, as a node does).
func killScenario(t *testing.T, f *haltAt, takeover bool) {
	r := newUnitRig(t)
	r.fail = f.fail
	r.serveCounter()
	r.host("a")
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	var k killRun
	cfg := r.config("task1")
	cfg.Failpoint = f.fail
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, cfg, func(ctx context.Context, tk *Task) error { return stepping(ctx, tk, &k) })
		done <- err
	}()
	select {
	case <-done:
	case <-f.hit:
		r.stopAll() // the kill: what is left is the bank
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("the task did not stop after the kill")
		}
	}
	r.stopAll()
	if takeover {
		r.takeover()
	} else {
		// A driver closed under a commit cuts it mid-ship, which stm counts
		// as a backup in an unknown state; a killed process's partner
		// re-syncs its backup the same way.
		r.backup = stmtest.Protect(t, r.bank)
	}
	r.fail = nil
	r.serveCounter()
	r.host("a")
	checkRestoredSet(t, r, &k)
}

// stepping stamps every part of the task and the counter server with
// steps 1 to 6, checkpointing each.
func stepping(ctx context.Context, tk *Task, k *killRun) error {
	words, p, st, err := stampedSegments(ctx, tk)
	if err != nil {
		return err
	}
	for st.Step < 6 {
		step := st.Step + 1
		if _, err := counterSet.Call(ctx, tk.Client(), step); err != nil {
			return err
		}
		stampAll(words, p, st, step)
		k.set(func() { k.tried = max(k.tried, step) })
		if err := tk.Checkpoint(ctx); err != nil {
			return err
		}
		k.set(func() { k.lastOK = step })
	}
	return nil
}

// checkRestoredSet restores the task and checks its segments, object and
// the counter agree on one step between the last acknowledged and the
// last attempted.
func checkRestoredSet(t *testing.T, r *unitRig, k *killRun) {
	var got, counter int64
	_, err := Run(r.ctx, r.config("task1"), func(ctx context.Context, tk *Task) error {
		words, p, st, err := stampedSegments(ctx, tk)
		if err != nil {
			return err
		}
		if got, err = checkStamped(words, p, st); err != nil {
			return err
		}
		counter, err = counterGet.Call(ctx, tk.Client(), struct{}{})
		return err
	})
	require.NoError(t, err)
	k.mu.Lock()
	defer k.mu.Unlock()
	require.GreaterOrEqual(t, got, k.lastOK, "an acknowledged checkpoint was lost")
	require.LessOrEqual(t, got, k.tried)
	require.Equal(t, got, counter, "the server the task called and the task's segments disagree")
	if got < k.lastOK {
		t.Fatal(errors.New("unreachable"))
	}
}
