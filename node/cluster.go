package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/cluster"
	"github.com/ftm-in-go/ftm/kernel/heartbeat"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/node/control"
	"github.com/ftm-in-go/ftm/pair"
)

// A cluster (DIR/pair.json with more than two nodes): the node links to
// every other node, one pair Node per peer (the name that sorts first
// dials; one listener serves every peer, its links handed to the peer's
// Node by name), all sharing the one Stable, whose banks are placed by
// the group (pair's cluster mode). A pair runs one pair Node as before.

// links is the node's pair Nodes: one (a pair) or one per peer.
type links struct {
	nodes  []*pair.Node
	echoes []atomic.Int64 // per node: when its peer last echoed a heartbeat (Unix ns; 0: never)
	demux  *peerListener  // nil for a pair
}

// linkSpec is what startLinks needs of the node's set-up.
type linkSpec struct {
	ns    *setup
	lis   pair.Listener
	links nodeLinks
}

// startLinks makes the node's pair Nodes; rt.pair is the first.
func (rt *nodeRuntime) startLinks(sp linkSpec) (*links, error) {
	peers := sp.ns.peers
	ls := &links{echoes: make([]atomic.Int64, len(peers))}
	if len(peers) > 1 {
		names := make([]string, len(peers))
		for i, p := range peers {
			names[i] = p.Name
		}
		ls.demux = newPeerListener(sp.lis, names, rt.log)
	}
	for i, p := range peers {
		lis := sp.lis
		if ls.demux != nil {
			lis = ls.demux.of(p.Name)
		}
		n, err := pair.New(pair.Config{
			Name: rt.name, PartnerName: p.Name, PartnerAddr: p.Addr,
			Heartbeat: heartbeat.Config{Period: sp.ns.heartbeat, OnRoundTrip: ls.echoed(i, rt.metrics.observeHeartbeat)},
			Listener:  lis,
			Dial:      sp.links.to(p.Name).dialer(),
			Logger:    rt.base,
			Hooks:     pair.ChainHooks(kernelHooks(rt.kernel, rt.base), rt.stable.Hooks()),
		})
		if err != nil {
			return nil, err
		}
		ls.nodes = append(ls.nodes, n)
	}
	rt.pair, rt.links = ls.nodes[0], ls
	return ls, nil
}

// run runs every pair Node (and the listener's demultiplexer) until ctx
// ends or one fails; it returns the first failure.
func (ls *links) run(ctx context.Context) error {
	if ls.demux == nil {
		return ls.nodes[0].Run(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go ls.demux.run(ctx)
	errs := make(chan error, len(ls.nodes))
	var wg sync.WaitGroup
	for _, n := range ls.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.Run(ctx); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// echoed returns the heartbeat's round-trip hook of link i: it notes when
// the peer last echoed, then tells observe.
func (ls *links) echoed(i int, observe func(time.Duration)) func(time.Duration) {
	return func(d time.Duration) {
		ls.echoes[i].Store(time.Now().UnixNano())
		observe(d)
	}
}

// statuses returns every link's status with its heartbeat's age (nil for
// a pair).
func (ls *links) statuses() []control.PeerStatus {
	if ls == nil || ls.demux == nil {
		return nil
	}
	out := make([]control.PeerStatus, len(ls.nodes))
	for i, n := range ls.nodes {
		out[i].Status = n.Status()
		if at := ls.echoes[i].Load(); at != 0 {
			out[i].HeartbeatAge = time.Since(time.Unix(0, at))
		}
	}
	return out
}

// peerListener hands the links one listener accepts to the pair Node of
// the peer each comes from.
type peerListener struct {
	lis   pair.Listener
	peers map[string]chan link.Link
	log   *zap.Logger
}

func newPeerListener(lis pair.Listener, peers []string, log *zap.Logger) *peerListener {
	pl := &peerListener{lis: lis, peers: map[string]chan link.Link{}, log: log}
	for _, p := range peers {
		pl.peers[p] = make(chan link.Link, 1)
	}
	return pl
}

// run accepts links until ctx ends and queues each for its peer; a link
// from a stranger, or from a peer whose previous link is still queued, is
// closed (the peer dials again).
func (pl *peerListener) run(ctx context.Context) {
	for {
		l, err := pl.lis.Accept(ctx)
		if err != nil {
			if ctx.Err() == nil {
				pl.log.Warn("cluster listener failed", zap.Error(err))
			}
			return
		}
		select {
		case pl.peers[l.Peer()] <- l:
		default:
			pl.log.Warn("link from a node that is not a peer, or a second one queued, refused", zap.String("peer", l.Peer()))
			_ = l.Close()
		}
	}
}

// of is the listener of one peer's links.
func (pl *peerListener) of(peer string) pair.Listener { return peerQueue(pl.peers[peer]) }

// peerQueue is one peer's links, as a pair.Listener.
type peerQueue chan link.Link

func (q peerQueue) Accept(ctx context.Context) (link.Link, error) {
	select {
	case l := <-q:
		return l, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (q peerQueue) Close() error { return nil }

// placement is the group as a cluster member's Stable asks it where to
// place its banks' backups (nil for a pair, or without a group).
func (g *nodeGroup) placement(cluster bool) pair.Placement {
	if g == nil || !cluster {
		return nil
	}
	return groupPlacement{g.lease}
}

// groupPlacement is a cluster.Lease as a pair.Placement.
type groupPlacement struct{ l *cluster.Lease }

var _ pair.Placement = groupPlacement{}

func (g groupPlacement) Claim(ctx context.Context, bank string) (string, error) {
	b, err := g.l.Claim(ctx, bank)
	if err != nil {
		return "", pairErr(err)
	}
	return b.Primary, nil
}

func (g groupPlacement) Place(ctx context.Context, bank string, live []string) (string, error) {
	t, err := g.l.Place(ctx, bank, live)
	if err != nil {
		return "", fmt.Errorf("place bank %s: %w", bank, pairErr(err))
	}
	return t, nil
}

func (g groupPlacement) Holder(bank string) (string, string) {
	b := g.l.State().Banks[bank]
	return b.Primary, b.Backup
}

// joinRetry is the pause between proposals of a member's join.
const joinRetry = 200 * time.Millisecond

// joinGroup records me among the group's members (State.Members, which
// operators see), retrying until a majority takes it or ctx ends.
func joinGroup(ctx context.Context, c cluster.Consensus, me cluster.Member, log *zap.Logger) {
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := c.Propose(pctx, cluster.Command{Op: cluster.OpJoin, Node: me.Name, Member: me})
		cancel()
		if err == nil {
			return
		}
		log.Debug("cannot join the group yet", zap.String("member", me.Name), zap.Error(err))
		select {
		case <-ctx.Done():
		case <-time.After(joinRetry):
		}
	}
}

// join records this node among the group's members, in the background
// (nothing without a group).
func (g *nodeGroup) join(ctx context.Context, me cluster.Member, log *zap.Logger) {
	if g != nil {
		go joinGroup(ctx, g.member, me, log)
	}
}

// RunWitnessNamed runs the witness called name of the pair or cluster in
// dir ("": the first) until ctx ends: a voter of the group that holds no
// bank.
func RunWitnessNamed(ctx context.Context, dir, name string, log *zap.Logger) error {
	st, err := control.LoadPair(dir)
	if err != nil {
		return err
	}
	w, err := st.WitnessNamed(name)
	if err != nil || st.Voters() == nil {
		return fmt.Errorf("%w: the pair in %s has no witness %q", cluster.ErrConfig, dir, name)
	}
	secret, err := control.ReadOrCreateSecret(dir)
	if err != nil {
		return err
	}
	if log == nil {
		log = zap.NewNop()
	}
	m, err := startMember(dir, w.Name, &setup{voters: st.Voters(), secret: secret}, log)
	if err != nil {
		return err
	}
	log.Info("witness started", zap.String("name", w.Name), zap.String("addr", w.Consensus))
	go joinGroup(ctx, m, cluster.Member{Name: w.Name, Addr: w.Consensus, Witness: true}, log)
	<-ctx.Done()
	return m.Close()
}

// consensusAddr is name's consensus address among ns's voters.
func consensusAddr(ns *setup, name string) string {
	for _, p := range ns.voters {
		if p.Name == name {
			return p.Addr
		}
	}
	return ""
}
