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
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			w := newWorld(t)
			w.kind = kind
			concurrentScenario(t, w)
		})
	}
}

// The same with the servers' units crashing (S dropped, restarted from the
// bank) at random driver steps: 1 in 40 failpoint checks.
func TestConcurrentCallsCheckpointsAndCrashes(t *testing.T) {
	runs := 1
	if os.Getenv("FTM_SOAK") != "" {
		runs = 200
	}
	for i := range 2 * runs {
		seed, kind := i/2, kinds[i%2]
		t.Run(fmt.Sprint(kind.name, "/", seed), func(t *testing.T) {
			w := newWorld(t)
			w.kind = kind
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

// Shape of the concurrent scenario: application RUs and external clients
// each making rounds calls.
const (
	scenarioApps   = 3
	scenarioExts   = 2
	scenarioRounds = 25
)

// taggedUpdate is one update the scenario made: its tag in the server's log, the
// RU it ran in (application updates only) and the server it went to.
type taggedUpdate struct {
	tag string
	ru  ru.ID
	srv string
}

// concurrentRun is one run of concurrentScenario: the callers' shared record
// of the updates they made and the errors they met.
type concurrentRun struct {
	w       *world
	ctx     context.Context
	wg      sync.WaitGroup
	errs    chan error
	mu      sync.Mutex
	appTags []taggedUpdate // application updates that committed or aborted
	acked   []taggedUpdate // acknowledged external updates
}

// concurrentScenario serves k1, k2 and front, runs the application RUs and
// external clients at once, then checks what survived in k1 and k2.
func concurrentScenario(t *testing.T, w *world) {
	w.serve("s1", "k1")
	w.serve("s2", "k2")
	w.serve("s2", "front")
	ctx, cancel := context.WithTimeout(w.ctx, 40*time.Second)
	defer cancel()
	s := &concurrentRun{w: w, ctx: ctx, errs: make(chan error, scenarioApps+scenarioExts)}
	for a := range scenarioApps {
		s.startApp(a)
	}
	for e := range scenarioExts {
		s.startExternal(e)
	}
	s.wg.Wait()
	close(s.errs)
	for err := range s.errs {
		t.Fatal(err)
	}
	logs := map[string][]string{"k1": w.committed("k1").Log, "k2": w.committed("k2").Log}
	s.checkNoUpdateTwice(t, logs)
	s.checkAckedPresent(t, logs)
	s.checkAppUpdatesIffCommitted(t, logs)
	s.logSummary(t)
}

// startApp starts application RU a: rounds of random calls (updates, reads,
// nested calls, checkpoints), then a checkpoint that commits.
func (s *concurrentRun) startApp(a int) {
	c := s.w.client(fmt.Sprintf("h%d", a), fmt.Sprintf("app%d", a))
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		rng := rand.New(rand.NewPCG(uint64(a), 7))
		for i := range scenarioRounds {
			tag := fmt.Sprintf("app%d-%d", a, i)
			if err := s.appRound(c, rng, tag); err != nil && !errors.Is(err, ErrAborted) {
				s.errs <- fmt.Errorf("%s: %w", tag, err)
				return
			}
		}
		if err := s.commitAtEnd(c); err != nil {
			s.errs <- fmt.Errorf("app%d: %w", a, err)
		}
	}()
}

// appRound makes one random call from c: an update (recorded), a read, a
// nested call through front, or a checkpoint.
func (s *concurrentRun) appRound(c *Client, rng *rand.Rand, tag string) error {
	var err error
	switch r := rng.IntN(10); {
	case r < 4:
		srv := []string{"k1", "k2"}[rng.IntN(2)]
		_, err = mAdd(srv).Call(s.ctx, c, addReq{Key: "a", By: 1, Tag: tag})
		if err == nil || errors.Is(err, ErrAborted) {
			s.mu.Lock()
			s.appTags = append(s.appTags, taggedUpdate{tag, c.lastRU, srv})
			s.mu.Unlock()
		}
	case r < 6:
		_, err = mGet([]string{"k1", "k2"}[rng.IntN(2)]).Call(s.ctx, c, "a")
	case r < 8:
		_, err = mFwd("front").Call(s.ctx, c, fwdReq{To: "k1", Add: addReq{Key: "f", By: 1, Tag: "f" + tag}})
	default:
		err = c.Checkpoint(s.ctx)
	}
	return err
}

// errNeverCommitted is an application RU whose final checkpoint kept
// aborting.
var errNeverCommitted = errors.New("never committed at the end")

// commitAtEnd checkpoints c until one commits, at most 20 tries.
func (s *concurrentRun) commitAtEnd(c *Client) error {
	for range 20 {
		err := c.Checkpoint(s.ctx)
		if err == nil || !errors.Is(err, ErrAborted) {
			return err
		}
	}
	return errNeverCommitted
}

// startExternal starts external client e: rounds of updates alternating
// between k1 and k2, each recorded once acknowledged.
func (s *concurrentRun) startExternal(e int) {
	c := s.w.external("x", fmt.Sprintf("ext%d", e))
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for i := range scenarioRounds {
			tag := fmt.Sprintf("ext%d-%d", e, i)
			srv := []string{"k1", "k2"}[i%2]
			if _, err := mAdd(srv).Call(s.ctx, c, addReq{Key: "e", By: 1, Tag: tag}); err != nil {
				s.errs <- fmt.Errorf("%s: %w", tag, err)
				return
			}
			s.mu.Lock()
			s.acked = append(s.acked, taggedUpdate{tag: tag, srv: srv})
			s.mu.Unlock()
		}
	}()
}

// checkNoUpdateTwice: no tag appears twice in a server's committed log.
// On failure it logs the tag's trace and the driver's recent debug log.
func (s *concurrentRun) checkNoUpdateTwice(t *testing.T, logs map[string][]string) {
	for srv, log := range logs {
		for _, tag := range log {
			if count(log, tag) != 1 {
				tr := s.traceOf(srv, tag)
				s.dumpDriverLog(t)
				t.Fatalf("%s committed twice on %s: %v; front aborted %v", tag, srv, tr, s.w.unitState("front").Aborted)
			}
		}
	}
}

// traceOf is the committed trace entries of tag on server srv.
func (s *concurrentRun) traceOf(srv, tag string) []string {
	var tr []string
	for _, x := range s.w.committed(srv).Trace {
		if strings.HasPrefix(x, tag+"<") {
			tr = append(tr, x)
		}
	}
	return tr
}

// dumpDriverLog logs the driver's debug trace, last 400 entries, when the
// run records it.
func (s *concurrentRun) dumpDriverLog(t *testing.T) {
	if s.w.logs == nil {
		return
	}
	all := s.w.logs.All()
	for _, e := range all[max(0, len(all)-400):] {
		t.Logf("%s %v", e.Message, e.ContextMap())
	}
}

// checkAckedPresent: every acknowledged external update is committed
// exactly once.
func (s *concurrentRun) checkAckedPresent(t *testing.T, logs map[string][]string) {
	for _, x := range s.acked {
		require.Equal(t, 1, count(logs[x.srv], x.tag), "acknowledged %s lost", x.tag)
	}
}

// checkAppUpdatesIffCommitted: an application update is present iff its RU
// committed, and every RU ended committed or aborted.
func (s *concurrentRun) checkAppUpdatesIffCommitted(t *testing.T, logs map[string][]string) {
	for _, x := range s.appTags {
		st := s.w.unitState(x.ru.Name)
		switch {
		case st.Aborted[x.ru.Inc]:
			require.Zero(t, count(logs[x.srv], x.tag), "%s of aborted %s survived (orphan)", x.tag, x.ru)
		case x.ru.Inc < st.Inc:
			require.Equal(t, 1, count(logs[x.srv], x.tag), "%s of committed %s missing", x.tag, x.ru)
		default:
			t.Errorf("%s: %s neither committed nor aborted at the end", x.tag, x.ru)
		}
	}
}

// logSummary logs how many updates the run made, the servers' incarnations
// and how many admissions waited.
func (s *concurrentRun) logSummary(t *testing.T) {
	waits := int64(0)
	for _, h := range s.w.hosts {
		waits += h.driver.waits.Load()
	}
	t.Logf("%d application updates, %d external; k1 inc %d, k2 inc %d; %d admissions waited", len(s.appTags), len(s.acked),
		s.w.unitState("k1").Inc, s.w.unitState("k2").Inc, waits)
}
