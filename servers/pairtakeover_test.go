package servers

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel/heartbeat"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// memPairNet hands out in-memory pair links (dialer alpha, listener beta).
type memPairNet struct {
	mu      sync.Mutex
	pending chan link.Link
	refuse  bool
}

func (m *memPairNet) dial(context.Context, string) (link.Link, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refuse {
		return nil, errors.New("connection refused")
	}
	a, b := link.NewMemPair("alpha", "beta", link.MemConfig{})
	m.pending <- b
	return a, nil
}

func (m *memPairNet) Accept(ctx context.Context) (link.Link, error) {
	select {
	case l := <-m.pending:
		return l, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (m *memPairNet) Close() error { return nil }

// pairMember is one pair.Stable member run in this process, its in-doubt
// server groups deferred as a node (package node) does.
type pairMember struct {
	st   *pair.Stable
	stop func()
}

func startPairMember(t *testing.T, net *memPairNet, name string, log *zap.Logger) *pairMember {
	partner := map[string]string{"alpha": "beta", "beta": "alpha"}[name]
	deferFn := func(ctx context.Context, _ string, b *stm.Bank, inDoubt []stm.GroupID) map[stm.GroupID]bool {
		pending, err := PendingGroups(ctx, b, inDoubt)
		if err != nil {
			return nil
		}
		return pending
	}
	st, err := pair.NewStable(pair.StableConfig{Name: name, PartnerName: partner, Defer: deferFn, Logger: log.Named(name)})
	require.NoError(t, err)
	cfg := pair.Config{Name: name, PartnerName: partner, Hooks: st.Hooks(), Logger: log.Named(name),
		Heartbeat: heartbeat.Config{Period: 20 * time.Millisecond, Timeout: 3 * time.Second}, Redial: 10 * time.Millisecond}
	if name == "alpha" {
		cfg.PartnerAddr, cfg.Dial = "mem", net.dial
	} else {
		cfg.Listener = net
	}
	n, err := pair.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	var once sync.Once
	m := &pairMember{st: st, stop: func() { once.Do(func() { cancel(); <-done; _ = st.Close() }) }}
	t.Cleanup(m.stop)
	return m
}

// attached says whether member m holds each bank as primary with its
// partner's backup attached.
func attached(m *pairMember, banks ...string) bool {
	n := 0
	for _, b := range m.st.Status().Banks {
		if b.Role != pair.RoleBackup && b.Mirror == pair.MirrorAttached && slices.Contains(banks, b.Name) {
			n++
		}
	}
	return n == len(banks)
}

// The whole chain of a node (package node), in process: kv's bank is beta's, the
// initiator app runs over alpha's bank on another kernel node. beta dies
// with kv's S precommitted and kv's decision not saved, once the
// initiator's commit is durable; alpha's pair.Stable
// takes beta's bank over, its Defer (PendingGroups) leaves kv's group in
// doubt, beta comes back as the backup, and kv's driver restarts on the
// taken-over bank: the committed checkpoint has kv's update, exactly once,
// on the primary and, after a second failure, on the other node.
func TestPairTakeoverLeavesServerGroupToItsDriver(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) { pairTakeoverLeavesGroup(t, kind) })
	}
}

func pairTakeoverLeavesGroup(t *testing.T, kind serverKind) {
	r := newPairTakeoverRig(t, kind)
	defer r.close()
	bankBeta := r.beta.st.Own()
	frozen, release := make(chan struct{}), make(chan struct{})
	hy := r.newHost(r.ny, "hy", bankBeta, freezeAt(ru.FPBeforePersist, bankBeta, frozen, release))
	r.serve(hy, "kv")
	hx := r.newHost(r.nx, "hx", r.alpha.st.Own(), nil)
	app, err := NewClient(ClientConfig{Name: "app", Driver: hx.driver, Logger: r.log, Timeout: time.Second})
	require.NoError(t, err)
	defer app.Close()
	initiator := app.RU()
	require.NotZero(t, initiator.Inc)
	ckpt := addThenFreeze(r.ctx, t, app, frozen)
	g := stm.GroupID(recordOf(bankBeta, "kv").Group)
	require.NotZero(t, g)
	// kv freezes at the first save after its precommit: the decision, or a
	// duplicate build the initiator resent before kv's acknowledgment came.
	// In the second case the initiator's commit may still be on its way to
	// alpha's bank, which refuses it once beta (its backup) is gone: the
	// initiator then aborts, consistently (TestPairTakeoverInitiatorCommitRefused).
	// This test is about a committed checkpoint, so beta dies only once the
	// commit is durable.
	require.Eventually(t, func() bool { return endedCommitted(r.alpha.st.Own(), initiator) },
		waitFor, time.Millisecond, "the initiator's commit never became durable")

	held := r.betaDies(g, func() { close(release); hy.stop(); hy.task.Terminate() })
	hy2 := r.betaBackServing(held)
	require.NoError(t, r.checkpointResult(ckpt), "the initiator committed")
	require.Eventually(t, func() bool { return !inGroup(held, g) }, waitFor, time.Millisecond, "kv's group decided")
	require.Equal(t, []string{"t1"}, slices.Clip(r.committedIn(held, "kv").Log))
	hy2.stop()
	hx.stop()
	r.alphaDiesLeaving([]string{"t1"})
}

// The same chain when the initiator's commit cannot be made durable: app's
// driver holds the save of its decision until beta, the backup of app's
// bank too, has died, so alpha's bank refuses it (no backup). The commit
// happened in app's memory only: its unit restarts from its record, which
// does not hold the decision, and its RU aborts. kv's group, left in doubt
// by the takeover, aborts with it: kv's S has no trace of the update, on
// either node.
func TestPairTakeoverInitiatorCommitRefused(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) { pairTakeoverCommitRefused(t, kind) })
	}
}

func pairTakeoverCommitRefused(t *testing.T, kind serverKind) {
	r := newPairTakeoverRig(t, kind)
	defer r.close()
	bankBeta := r.beta.st.Own()
	hy := r.newHost(r.ny, "hy", bankBeta, nil)
	r.serve(hy, "kv")
	saving, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	letGo := func() { once.Do(func() { close(release) }) }
	defer letGo()
	hx := r.newHost(r.nx, "hx", r.alpha.st.Own(), holdDecision(bankBeta, saving, release))
	app, err := NewClient(ClientConfig{Name: "app", Driver: hx.driver, Logger: r.log, Timeout: time.Second})
	require.NoError(t, err)
	defer app.Close()
	initiator := app.RU()
	ckpt := addThenFreeze(r.ctx, t, app, saving)
	g := stm.GroupID(recordOf(bankBeta, "kv").Group)
	require.NotZero(t, g)

	held := r.betaDies(g, func() { hy.stop(); hy.task.Terminate() })
	letGo() // the decision's save meets alpha's bank without its backup
	hy2 := r.betaBackServing(held)
	require.ErrorIs(t, r.checkpointResult(ckpt), ErrAborted, "the initiator aborted")
	require.Eventually(t, func() bool { return !inGroup(held, g) }, waitFor, time.Millisecond, "kv's group decided")
	require.False(t, endedCommitted(r.alpha.st.Own(), initiator), "app's record: %+v", recordOf(r.alpha.st.Own(), "app").State)
	st := r.committedIn(held, "kv")
	require.Empty(t, st.Log)
	require.Zero(t, st.N["x"])
	hy2.stop()
	hx.stop()
	r.alphaDiesLeaving(nil)
}

// holdDecision is app's failpoint: the first save of app once kv's S is
// precommitted in kvBank (the one that holds app's commit decision) waits
// for release, and then goes on (no crash).
func holdDecision(kvBank *stm.Bank, saving, release chan struct{}) func(point, unit string) bool {
	var hit atomic.Bool
	return func(point, unit string) bool {
		if point != ru.FPBeforePersist || unit != "app" || hit.Load() || !precommitted(kvBank, "kv") {
			return false
		}
		hit.Store(true)
		close(saving)
		<-release
		return false
	}
}

// endedCommitted says whether the record of id's unit in bank b shows id
// ended and committed (a later incarnation, id not among the aborted).
func endedCommitted(b *stm.Bank, id ru.ID) bool {
	st := recordOf(b, id.Name).State
	return st != nil && st.Inc > id.Inc && !st.Aborted[id.Inc]
}

// pairTakeoverRig is a stable pair (alpha and beta, over net) whose banks
// the drivers of two kernel nodes use.
type pairTakeoverRig struct {
	*nodesRig
	net         *memPairNet
	alpha, beta *pairMember
}

// newPairTakeoverRig starts alpha and beta and waits until each protects
// its own bank with the other.
func newPairTakeoverRig(t *testing.T, kind serverKind) *pairTakeoverRig {
	r := &pairTakeoverRig{nodesRig: newNodesRig(t), net: &memPairNet{pending: make(chan link.Link, 4)}}
	r.kind = kind
	r.alpha = startPairMember(t, r.net, "alpha", r.log)
	r.beta = startPairMember(t, r.net, "beta", r.log)
	require.Eventually(t, func() bool { return attached(r.alpha, "alpha") && attached(r.beta, "beta") },
		waitFor, time.Millisecond, "own banks protected")
	return r
}

// betaBackServing restarts beta, empty: it becomes the backup of both
// banks. Then kv runs again over the taken-over bank held, on the
// surviving node's kernel; its host is returned.
func (r *pairTakeoverRig) betaBackServing(held *stm.Bank) *nodeHost {
	r.refuse(false)
	r.beta = startPairMember(r.t, r.net, "beta", r.log)
	require.Eventually(r.t, func() bool { return attached(r.alpha, "alpha", "beta") }, waitFor, time.Millisecond, "re-protected")
	hy2 := r.newHost(r.nx, "hy", held, nil)
	r.serve(hy2, "kv")
	return hy2
}

// checkpointResult waits for the initiator's checkpoint to end.
func (r *pairTakeoverRig) checkpointResult(ckpt <-chan error) error {
	select {
	case err := <-ckpt:
		return err
	case <-time.After(waitFor):
		r.t.Fatal("the initiator's checkpoint never ended")
		return nil
	}
}

// alphaDiesLeaving stops alpha: beta takes its banks over, and its copy of
// kv's committed S has log want too.
func (r *pairTakeoverRig) alphaDiesLeaving(want []string) {
	r.refuse(true)
	r.alpha.stop()
	require.Eventually(r.t, func() bool { return r.beta.st.Status().Takeovers == 2 }, waitFor, time.Millisecond)
	require.Equal(r.t, want, slices.Clip(r.committedIn(r.beta.st.Bank("beta"), "kv").Log))
}

// refuse cuts (or restores) the pair's link.
func (r *pairTakeoverRig) refuse(on bool) {
	r.net.mu.Lock()
	r.net.refuse = on
	r.net.mu.Unlock()
}

// betaDies stops beta's machine (and, by kill, kv's node) and checks that
// alpha took beta's bank over leaving kv's group g in doubt for its driver
// (Defer). It returns the taken-over bank.
func (r *pairTakeoverRig) betaDies(g stm.GroupID, kill func()) *stm.Bank {
	t := r.t
	r.refuse(true)
	r.beta.stop()
	kill()
	require.Eventually(t, func() bool { return r.alpha.st.Status().Takeovers == 1 }, waitFor, time.Millisecond)
	to := r.alpha.st.Status().LastTakeover
	require.Equal(t, "beta", to.Bank)
	require.Equal(t, 1, to.InDoubt)
	require.Equal(t, 1, to.Deferred, "kv's group is left to its driver")
	held := r.alpha.st.Bank("beta")
	require.True(t, inGroup(held, g))
	return held
}
