package servers

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/heartbeat"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
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
// server groups deferred as ftmctl node does.
type pairMember struct {
	st   *pair.Stable
	stop func()
}

func startPairMember(t *testing.T, net *memPairNet, name string, log *zap.Logger) *pairMember {
	partner := map[string]string{"alpha": "beta", "beta": "alpha"}[name]
	deferFn := func(ctx context.Context, _ string, b *stm.Bank, inDoubt []stm.GroupID) map[stm.GroupID]bool {
		pending, err := PendingGroups(ctx, b)
		if err != nil {
			return nil
		}
		keep := map[stm.GroupID]bool{}
		for _, g := range inDoubt {
			keep[g] = pending[g]
		}
		return keep
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

// The whole chain of ftmctl node, in process: kv's bank is beta's, the
// initiator app runs over alpha's bank on another kernel node. beta dies
// with kv's S precommitted and the decision not saved; alpha's pair.Stable
// takes beta's bank over, its Defer (PendingGroups) leaves kv's group in
// doubt, beta comes back as the backup, and kv's driver restarts on the
// taken-over bank: the committed checkpoint has kv's update, exactly once,
// on the primary and, after a second failure, on the other node.
func TestPairTakeoverLeavesServerGroupToItsDriver(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	net := &memPairNet{pending: make(chan link.Link, 4)}
	alpha := startPairMember(t, net, "alpha", log)
	beta := startPairMember(t, net, "beta", log)
	require.Eventually(t, func() bool { return attached(alpha, "alpha") && attached(beta, "beta") },
		waitFor, time.Millisecond, "own banks protected")

	nx, ny := kernel.NewNode(kernel.Config{Name: "x"}), kernel.NewNode(kernel.Config{Name: "y"})
	defer nx.Shutdown()
	defer ny.Shutdown()
	lx, ly := link.NewMemPair("x", "y", link.MemConfig{})
	require.NoError(t, nx.AttachLink(lx))
	require.NoError(t, ny.AttachLink(ly))
	type host struct {
		task   *kernel.Task
		driver *Driver
		stop   func()
	}
	newHost := func(n *kernel.Node, name string, bank *stm.Bank, fail func(string, string) bool) *host {
		task, err := n.NewTask(name)
		require.NoError(t, err)
		d, err := NewDriver(DriverConfig{Host: name, Task: task, Bank: bank, Names: names.NewKernel(task, log),
			TickPeriod: 2 * time.Millisecond, Logger: log, Fail: crashWhen(fail)})
		require.NoError(t, err)
		d.Start()
		h := &host{task: task, driver: d, stop: d.Close}
		t.Cleanup(func() { h.stop() })
		return h
	}
	serve := func(h *host, name string) {
		srv := newCounterServer(Config{Name: name, Driver: h.driver, Logger: log})
		sctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- srv.Run(sctx) }()
		var once sync.Once
		h.stop = func() { once.Do(func() { stop(); <-done; h.driver.Close() }) }
	}

	bankBeta := beta.st.Own()
	frozen, release := make(chan struct{}), make(chan struct{})
	var freezeOnce sync.Once
	freeze := func(point, unit string) bool {
		if point != ru.FPBeforePersist || unit != "kv" || !precommitted(bankBeta, "kv") {
			return false
		}
		hit := false
		freezeOnce.Do(func() { hit = true })
		if hit {
			close(frozen)
			<-release
		}
		return true
	}
	hy := newHost(ny, "hy", bankBeta, freeze)
	serve(hy, "kv")
	hx := newHost(nx, "hx", alpha.st.Own(), nil)
	app, err := NewClient(ClientConfig{Name: "app", Driver: hx.driver, Logger: log, Timeout: time.Second})
	require.NoError(t, err)
	defer app.Close()
	ckpt := addThenFreeze(ctx, t, app, frozen)
	g := stm.GroupID(recordOf(bankBeta, "kv").Group)
	require.NotZero(t, g)

	// beta's machine dies; alpha takes its bank over.
	net.mu.Lock()
	net.refuse = true
	net.mu.Unlock()
	beta.stop()
	close(release)
	hy.stop()
	hy.task.Terminate()
	require.Eventually(t, func() bool { return alpha.st.Status().Takeovers == 1 }, waitFor, time.Millisecond)
	to := alpha.st.Status().LastTakeover
	require.Equal(t, "beta", to.Bank)
	require.Equal(t, 1, to.InDoubt)
	require.Equal(t, 1, to.Deferred, "kv's group is left to its driver")
	held := alpha.st.Bank("beta")
	require.True(t, inGroup(held, g))

	// beta comes back empty and becomes the backup of both banks; kv runs
	// again over the taken-over bank, on the surviving node's kernel.
	net.mu.Lock()
	net.refuse = false
	net.mu.Unlock()
	beta = startPairMember(t, net, "beta", log)
	require.Eventually(t, func() bool { return attached(alpha, "alpha", "beta") }, waitFor, time.Millisecond, "re-protected")
	hy2 := newHost(nx, "hy", held, nil)
	serve(hy2, "kv")
	select {
	case err := <-ckpt:
		require.NoError(t, err, "the initiator committed")
	case <-time.After(waitFor):
		t.Fatal("the initiator's checkpoint never ended")
	}
	require.Eventually(t, func() bool { return !inGroup(held, g) }, waitFor, time.Millisecond, "kv's group decided")
	require.Equal(t, []string{"t1"}, slices.Clip(committedIn(t, held, "kv").Log))
	hy2.stop()
	hx.stop()

	// alpha dies: beta's copy has the committed S too.
	net.mu.Lock()
	net.refuse = true
	net.mu.Unlock()
	alpha.stop()
	require.Eventually(t, func() bool { return beta.st.Status().Takeovers == 2 }, waitFor, time.Millisecond)
	require.Equal(t, []string{"t1"}, slices.Clip(committedIn(t, beta.st.Bank("beta"), "kv").Log))
}
