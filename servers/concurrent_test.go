package servers

import (
	"context"
	"errors"
	"fmt"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/stretchr/testify/require"
)

// Several application RUs and external clients call three servers (one
// of them making nested calls) and start checkpoints concurrently, so
// calls arrive while the servers are in phase 1 (served, or waiting for
// the initiator's authorization) and phase 2 (deferred). Every checkpoint
// must end, and the state that survives must be consistent: each
// application update present iff its RU committed, each acknowledged
// external update exactly once, no update twice.
func TestConcurrentCallsAndCheckpoints(t *testing.T) {
	concurrentScenario(t, newWorld(t))
}

// The same with the servers' units crashing (S dropped, restarted from the
// bank) at random driver steps: 1 in 40 failpoint checks.
func TestConcurrentCallsCheckpointsAndCrashes(t *testing.T) {
	runs := 1
	if os.Getenv("FTM_SOAK") != "" {
		runs = 200
	}
	for seed := range runs {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			w := newWorld(t)
			core, logs := observer.New(zap.DebugLevel)
			w.log = zap.New(core)
			w.logs = logs
			var mu sync.Mutex
			rng := rand.New(rand.NewPCG(42, uint64(seed)))
			crashes := 0
			w.fail = crashWhen(func(point, unit string) bool {
				mu.Lock()
				defer mu.Unlock()
				if unit[0] != 'k' && unit != "front" || rng.IntN(40) != 0 {
					return false
				}
				crashes++
				return true
			})
			concurrentScenario(t, w)
			mu.Lock()
			defer mu.Unlock()
			t.Logf("%d crashes", crashes)
			require.Positive(t, crashes)
		})
	}
}

func concurrentScenario(t *testing.T, w *world) {
	w.serve("s1", "k1")
	w.serve("s2", "k2")
	w.serve("s2", "front")
	const apps, exts, rounds = 3, 2, 25
	type tagged struct {
		tag string
		ru  ru.ID
		srv string
	}
	var mu sync.Mutex
	var appTags []tagged
	var acked []tagged
	var wg sync.WaitGroup
	errs := make(chan error, apps+exts)
	ctx, cancel := context.WithTimeout(w.ctx, 40*time.Second)
	defer cancel()
	for a := range apps {
		c := w.client(fmt.Sprintf("h%d", a), fmt.Sprintf("app%d", a))
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(a), 7))
			for i := range rounds {
				tag := fmt.Sprintf("app%d-%d", a, i)
				var err error
				switch r := rng.IntN(10); {
				case r < 4:
					srv := []string{"k1", "k2"}[rng.IntN(2)]
					_, err = mAdd(srv).Call(ctx, c, addReq{Key: "a", By: 1, Tag: tag})
					if err == nil || errors.Is(err, ErrAborted) {
						mu.Lock()
						appTags = append(appTags, tagged{tag, c.lastRU, srv})
						mu.Unlock()
					}
				case r < 6:
					_, err = mGet([]string{"k1", "k2"}[rng.IntN(2)]).Call(ctx, c, "a")
				case r < 8:
					_, err = mFwd("front").Call(ctx, c, fwdReq{To: "k1", Add: addReq{Key: "f", By: 1, Tag: "f" + tag}})
				default:
					err = c.Checkpoint(ctx)
				}
				if err != nil && !errors.Is(err, ErrAborted) {
					errs <- fmt.Errorf("%s: %w", tag, err)
					return
				}
			}
			for i := 0; ; i++ { // end committed
				if i == 20 {
					errs <- fmt.Errorf("app%d never committed at the end", a)
					return
				}
				if err := c.Checkpoint(ctx); err == nil {
					return
				} else if !errors.Is(err, ErrAborted) {
					errs <- err
					return
				}
			}
		}()
	}
	for e := range exts {
		c := w.external("x", fmt.Sprintf("ext%d", e))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				tag := fmt.Sprintf("ext%d-%d", e, i)
				srv := []string{"k1", "k2"}[i%2]
				if _, err := mAdd(srv).Call(ctx, c, addReq{Key: "e", By: 1, Tag: tag}); err != nil {
					errs <- fmt.Errorf("%s: %w", tag, err)
					return
				}
				mu.Lock()
				acked = append(acked, tagged{tag: tag, srv: srv})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	logs := map[string][]string{"k1": w.committed("k1").Log, "k2": w.committed("k2").Log}
	for srv, log := range logs {
		for _, tag := range log {
			if count(log, tag) != 1 {
				var tr []string
				for _, x := range w.committed(srv).Trace {
					if strings.HasPrefix(x, tag+"<") {
						tr = append(tr, x)
					}
				}
				if w.logs != nil { // the driver's debug trace, last 400 entries
					all := w.logs.All()
					for _, e := range all[max(0, len(all)-400):] {
						t.Logf("%s %v", e.Message, e.ContextMap())
					}
				}
				t.Fatalf("%s committed twice on %s: %v; front aborted %v", tag, srv, tr, w.unitState("front").Aborted)
			}
		}
	}
	for _, x := range acked {
		require.Equal(t, 1, count(logs[x.srv], x.tag), "acknowledged %s lost", x.tag)
	}
	for _, x := range appTags {
		st := w.unitState(x.ru.Name)
		switch {
		case st.Aborted[x.ru.Inc]:
			require.Zero(t, count(logs[x.srv], x.tag), "%s of aborted %s survived (orphan)", x.tag, x.ru)
		case x.ru.Inc < st.Inc:
			require.Equal(t, 1, count(logs[x.srv], x.tag), "%s of committed %s missing", x.tag, x.ru)
		default:
			t.Errorf("%s: %s neither committed nor aborted at the end", x.tag, x.ru)
		}
	}
	waits := int64(0)
	for _, h := range w.hosts {
		waits += h.driver.waits.Load()
	}
	t.Logf("%d application updates, %d external; k1 inc %d, k2 inc %d; %d admissions waited", len(appTags), len(acked),
		w.unitState("k1").Inc, w.unitState("k2").Inc, waits)
}
