package servers

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/stretchr/testify/require"
)

// oneCrash crashes unit at the n-th time point is reached.
type oneCrash struct {
	mu          sync.Mutex
	point, unit string
	n, seen     int
}

func (f *oneCrash) fail(point, unit string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if point != f.point || unit != f.unit {
		return nil
	}
	f.seen++
	if f.seen == f.n {
		return failpoint.ErrCrash
	}
	return nil
}

func (f *oneCrash) fired() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen >= f.n
}

// appTag is an update of the application client, with the RU it ran in.
type appTag struct {
	tag string
	ru  ru.ID
}

// Crash the server's unit (its in-memory S dropped, restarted from the
// bank; S whole, or by object: a Map and Logs) at each driver step: before and after its state is persisted, after
// S was precommitted, before and after the STM group is decided. Then
// check what survived: every acknowledged update of the external client
// exactly once, every update of a committed application RU present, none
// of an aborted one (no orphan), nothing twice.
func TestCrashAtEveryDriverStep(t *testing.T) {
	points := []string{ru.FPBeforePersist, ru.FPAfterPersist, FPAfterPrecommit, FPBeforeDecide, FPAfterDecide}
	fired, ran := map[string]int{}, map[string]bool{}
	maxN := 8
	if os.Getenv("FTM_SOAK") != "" {
		maxN = 60
	}
	for _, kind := range kinds {
		for _, point := range points {
			for n := 1; n <= maxN; n++ {
				t.Run(fmt.Sprintf("%s/%s/%d", kind.name, point, n), func(t *testing.T) {
					ran[point] = true
					f := &oneCrash{point: point, unit: "kv", n: n}
					if crashScenario(t, f.fail, kind) && f.fired() {
						fired[point]++
					}
				})
			}
		}
	}
	for _, p := range points {
		if ran[p] {
			require.Positive(t, fired[p], "failpoint %s never reached", p)
		}
	}
}

// crashScenario runs updates and checkpoints of an application client and
// an external client against kv with the failpoint installed, then checks
// the invariants. It reports whether it ran to the end.
func crashScenario(t *testing.T, fail failpoint.Hook, kind serverKind) bool {
	w := newWorld(t)
	w.fail, w.kind = fail, kind
	w.serve("s", "kv")
	sc := &crashRun{t: t, w: w, app: w.client("a", "app"), ext: w.external("x", "ext")}
	for range 2 {
		sc.appAdd()
		sc.appAdd()
		sc.extAdd()
		sc.ckpt()
		sc.extAdd()
		sc.appAdd()
		sc.ckpt()
	}
	// settle: one more committed checkpoint of the app
	for i := 0; ; i++ {
		require.Less(t, i, 20, "the application never committed again")
		if sc.app.Checkpoint(w.ctx) == nil {
			break
		}
	}
	sc.check(w.committed("kv").Log, w.unitState("app"))
	return true
}

// crashRun is the record of one crash scenario: the updates each client
// made and which were acknowledged.
type crashRun struct {
	t        *testing.T
	w        *world
	app, ext *Client
	tags     []appTag // the application's updates, with their RU
	acked    []string // the external client's acknowledged updates
	seq      int
}

func (sc *crashRun) appAdd() {
	sc.seq++
	tag := fmt.Sprintf("app-%d", sc.seq)
	_, err := mAdd("kv").Call(sc.w.ctx, sc.app, addReq{Key: "app", By: 1, Tag: tag})
	if err != nil && !errors.Is(err, ErrAborted) {
		sc.t.Fatalf("app call: %v", err)
	}
	sc.tags = append(sc.tags, appTag{tag, sc.app.lastRU}) // may have run in an aborted RU
}

func (sc *crashRun) extAdd() {
	sc.seq++
	tag := fmt.Sprintf("ext-%d", sc.seq)
	if _, err := mAdd("kv").Call(sc.w.ctx, sc.ext, addReq{Key: "ext", By: 1, Tag: tag}); err != nil {
		sc.t.Fatalf("external call: %v", err)
	}
	sc.acked = append(sc.acked, tag)
}

func (sc *crashRun) ckpt() {
	if err := sc.app.Checkpoint(sc.w.ctx); err != nil && !errors.Is(err, ErrAborted) {
		sc.t.Fatalf("checkpoint: %v", err)
	}
}

// requireOnceEach checks the committed log holds every tag once at most
// and every acknowledged tag exactly once.
func requireOnceEach(t *testing.T, log, acked []string) {
	t.Helper()
	for _, tag := range log {
		require.Equal(t, 1, count(log, tag), "%s committed twice", tag)
	}
	for _, tag := range acked {
		require.Equal(t, 1, count(log, tag), "acknowledged %s lost", tag)
	}
}

// check verifies the committed log against the app's saved state st:
// nothing twice, no acknowledged update lost, every update of a committed
// RU present and none of an aborted one (no orphan).
func (sc *crashRun) check(log []string, st *ru.State) {
	t := sc.t
	requireOnceEach(t, log, sc.acked)
	for _, x := range sc.tags {
		switch {
		case st.Aborted[x.ru.Inc]:
			require.Zero(t, count(log, x.tag), "%s of aborted %s survived (orphan)", x.tag, x.ru)
		case x.ru.Inc < st.Inc:
			require.Equal(t, 1, count(log, x.tag), "%s of committed %s missing", x.tag, x.ru)
		}
	}
}

// The server's whole host dies (driver, server, S; the bank survives) and
// the server runs again: committed state and acknowledged external updates
// survive, the application RU that depended on lost work aborts.
func TestHostCrashRestartsFromBank(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) { hostCrashRestarts(t, kind) })
	}
}

func hostCrashRestarts(t *testing.T, kind serverKind) {
	w := newWorld(t)
	w.kind = kind
	w.serve("s", "kv")
	app, ext := w.client("a", "app"), w.external("x", "ext")
	_, err := mAdd("kv").Call(w.ctx, app, addReq{Key: "k", By: 1, Tag: "a1"})
	require.NoError(t, err)
	require.NoError(t, app.Checkpoint(w.ctx))
	_, err = mAdd("kv").Call(w.ctx, ext, addReq{Key: "k", By: 1, Tag: "e1"})
	require.NoError(t, err)
	lost := app.RU()
	_, err = mAdd("kv").Call(w.ctx, app, addReq{Key: "k", By: 1, Tag: "a2"})
	require.NoError(t, err)

	w.crashHost("s")
	w.serve("s", "kv")
	// a2's server RU was lost: the app RU that depends on it aborts (the
	// abort wave may reach it before or during this checkpoint).
	if err := app.Checkpoint(w.ctx); err != nil {
		require.ErrorIs(t, err, ErrAborted)
	}
	require.Eventually(t, func() bool { return w.unitState("app").Aborted[lost.Inc] }, waitFor, tick)
	require.ElementsMatch(t, []string{"a1", "e1"}, w.committed("kv").Log)

	_, err = mAdd("kv").Call(w.ctx, app, addReq{Key: "k", By: 1, Tag: "a3"})
	require.NoError(t, err)
	_, err = mAdd("kv").Call(w.ctx, ext, addReq{Key: "k", By: 1, Tag: "e2"})
	require.NoError(t, err)
	require.NoError(t, app.Checkpoint(w.ctx))
	require.ElementsMatch(t, []string{"a1", "e1", "a3", "e2"}, w.committed("kv").Log)
	require.Equal(t, 4, w.committed("kv").N["k"])
}
