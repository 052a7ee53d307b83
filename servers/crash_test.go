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
// bank) at each driver step: before and after its state is persisted, after
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
	for _, point := range points {
		for n := 1; n <= maxN; n++ {
			t.Run(fmt.Sprintf("%s/%d", point, n), func(t *testing.T) {
				ran[point] = true
				f := &oneCrash{point: point, unit: "kv", n: n}
				if crashScenario(t, f.fail) && f.fired() {
					fired[point]++
				}
			})
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
func crashScenario(t *testing.T, fail failpoint.Hook) bool {
	w := newWorld(t)
	w.fail = fail
	w.serve("s", "kv")
	app, ext := w.client("a", "app"), w.external("x", "ext")
	var tags []appTag
	var acked []string
	seq := 0
	appAdd := func() {
		seq++
		tag := fmt.Sprintf("app-%d", seq)
		_, err := mAdd("kv").Call(w.ctx, app, addReq{Key: "app", By: 1, Tag: tag})
		id := app.lastRU // the RU the call ran in
		if err == nil {
			tags = append(tags, appTag{tag, id})
		} else if !errors.Is(err, ErrAborted) {
			t.Fatalf("app call: %v", err)
		} else {
			tags = append(tags, appTag{tag, id}) // may have run in the aborted RU
		}
	}
	extAdd := func() {
		seq++
		tag := fmt.Sprintf("ext-%d", seq)
		if _, err := mAdd("kv").Call(w.ctx, ext, addReq{Key: "ext", By: 1, Tag: tag}); err == nil {
			acked = append(acked, tag)
		} else {
			t.Fatalf("external call: %v", err)
		}
	}
	ckpt := func() {
		if err := app.Checkpoint(w.ctx); err != nil && !errors.Is(err, ErrAborted) {
			t.Fatalf("checkpoint: %v", err)
		}
	}
	for range 2 {
		appAdd()
		appAdd()
		extAdd()
		ckpt()
		extAdd()
		appAdd()
		ckpt()
	}
	// settle: one more committed checkpoint of the app
	for i := 0; ; i++ {
		require.Less(t, i, 20, "the application never committed again")
		if app.Checkpoint(w.ctx) == nil {
			break
		}
	}
	log := w.committed("kv").Log
	for _, tag := range log {
		require.Equal(t, 1, count(log, tag), "%s committed twice", tag)
	}
	for _, tag := range acked {
		require.Equal(t, 1, count(log, tag), "acknowledged %s lost", tag)
	}
	st := w.unitState("app")
	for _, x := range tags {
		switch {
		case st.Aborted[x.ru.Inc]:
			require.Zero(t, count(log, x.tag), "%s of aborted %s survived (orphan)", x.tag, x.ru)
		case x.ru.Inc < st.Inc:
			require.Equal(t, 1, count(log, x.tag), "%s of committed %s missing", x.tag, x.ru)
		}
	}
	return true
}

// The server's whole host dies (driver, server, S; the bank survives) and
// the server runs again: committed state and acknowledged external updates
// survive, the application RU that depended on lost work aborts.
func TestHostCrashRestartsFromBank(t *testing.T) {
	w := newWorld(t)
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
