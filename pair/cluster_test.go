package pair

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/cluster"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/kernel/link"
)

// meshNet links every two members of an in-memory cluster: the member
// whose name sorts first dials, the other accepts on its listener for
// that peer. down members refuse dials; kill cuts their links.
type meshNet struct {
	mu      sync.Mutex
	pending map[[2]string]chan link.Link // (acceptor, dialer) → links
	links   map[string][]*link.MemLink   // by member, both ends
	down    map[string]bool
}

func newMeshNet() *meshNet {
	return &meshNet{pending: map[[2]string]chan link.Link{}, links: map[string][]*link.MemLink{}, down: map[string]bool{}}
}

func (n *meshNet) queue(to, from string) chan link.Link {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := [2]string{to, from}
	if n.pending[k] == nil {
		n.pending[k] = make(chan link.Link, 4)
	}
	return n.pending[k]
}

func (n *meshNet) dialer(from string) Dialer {
	return func(ctx context.Context, to string) (link.Link, error) {
		q := n.queue(to, from)
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.down[to] || n.down[from] {
			return nil, errors.New("connection refused")
		}
		a, b := link.NewMemPair(from, to, link.MemConfig{})
		n.links[from] = append(n.links[from], a)
		n.links[to] = append(n.links[to], b)
		q <- b
		return a, nil
	}
}

// kill marks name down and cuts every link it has.
func (n *meshNet) kill(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down[name] = true
	for _, l := range n.links[name] {
		l.Cut()
	}
	n.links[name] = nil
}

func (n *meshNet) up(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down[name] = false
}

// meshListener accepts the links from one peer.
type meshListener struct{ q chan link.Link }

func (l meshListener) Accept(ctx context.Context) (link.Link, error) {
	select {
	case x := <-l.q:
		return x, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l meshListener) Close() error { return nil }

// placement is a cluster.Lease as a pair's Placement (the node's adapter,
// in small).
type placement struct{ l *cluster.Lease }

func (p placement) Claim(ctx context.Context, bank string) (string, error) {
	b, err := p.l.Claim(ctx, bank)
	return b.Primary, err
}

func (p placement) Place(ctx context.Context, bank string, live []string) (string, error) {
	return p.l.Place(ctx, bank, live)
}

func (p placement) Holder(bank string) (string, string) {
	b := p.l.State().Banks[bank]
	return b.Primary, b.Backup
}

// testCluster is members of one in-memory cluster and its group.
type testCluster struct {
	t     *testing.T
	net   *meshNet
	g     *cluster.MemGroup
	names []string
}

func newTestCluster(t *testing.T, names ...string) *testCluster {
	return &testCluster{t: t, net: newMeshNet(), g: cluster.NewMemGroup(), names: names}
}

// start starts member name: its lease, its Stable, a pair Node per peer,
// its claim and its protect loop; fp, if set, is its failpoint hook.
func (c *testCluster) start(name string, fp failpoint.Hook) *member {
	t := c.t
	t.Helper()
	c.net.up(name)
	log := zaptest.NewLogger(t).Named(name)
	l, err := cluster.NewLease(cluster.LeaseConfig{Node: name, Consensus: c.g.Member(name), Logger: log.Named("lease")})
	require.NoError(t, err)
	var peers []string
	for _, n := range c.names {
		if n != name {
			peers = append(peers, n)
		}
	}
	st, err := NewStable(StableConfig{Name: name, Peers: peers, Leases: groupLeases{l}, Placement: placement{l},
		Failpoint: fp, Logger: log})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: name, st: st, cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); l.Run(ctx) }()
	for _, p := range peers {
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.node(name, p, st, log).Run(ctx) }()
	}
	go func() { wg.Wait(); close(m.done) }()
	st.ClaimOwn(ctx)
	st.Protect(ctx)
	t.Cleanup(func() { cancel(); <-m.done; _ = st.Close() })
	return m
}

func (c *testCluster) node(name, peer string, st *Stable, log *zap.Logger) *Node {
	cfg := Config{Name: name, PartnerName: peer, Heartbeat: testHB, Hooks: st.Hooks(), Logger: log, Redial: 10 * time.Millisecond}
	if name < peer {
		cfg.PartnerAddr, cfg.Dial = peer, c.net.dialer(name)
	} else {
		cfg.Listener = meshListener{c.net.queue(name, peer)}
	}
	n, err := New(cfg)
	require.NoError(c.t, err)
	return n
}

// kill crashes m as a SIGKILL would: its links cut at once, its state gone.
func (c *testCluster) kill(m *member) {
	c.net.kill(m.name)
	m.crash()
}

// protected waits until the group records every bank of banks with a
// primary and a backup among live, each primary's mirror attached and
// each backup's copy ready, and returns the group's state.
func (c *testCluster) protected(live map[string]*member, banks ...string) cluster.State {
	c.t.Helper()
	var st cluster.State
	require.Eventually(c.t, func() bool {
		st = c.g.Member(firstName(live)).State()
		for _, bank := range banks {
			b := st.Banks[bank]
			p, bk := live[b.Primary], live[b.Backup]
			if p == nil || bk == nil || !attachedTo(p.st.Status(), bank, b.Backup) || !readyCopy(bk.st.Status(), bank, b.Primary) {
				return false
			}
		}
		return true
	}, testWait, testTick, "banks %v protected among %v; group %+v", banks, names(live), st.Banks)
	return st
}

func attachedTo(st StableStatus, bank, backup string) bool {
	for _, b := range st.Banks {
		if b.Name == bank && b.Role != RoleBackup {
			return b.Mirror == MirrorAttached && b.Backup == backup
		}
	}
	return false
}

func readyCopy(st StableStatus, bank, primary string) bool {
	for _, b := range st.Banks {
		if b.Name == bank && b.Role == RoleBackup && b.Peer == primary && b.Ready {
			return true
		}
	}
	return false
}

func names(ms map[string]*member) []string {
	var out []string
	for n := range ms {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func firstName(ms map[string]*member) string { return names(ms)[0] }
