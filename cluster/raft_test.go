package cluster

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

// startRaftGroup starts three raft members on loopback, a, b and w.
func startRaftGroup(t *testing.T) map[string]*Raft {
	t.Helper()
	names := []string{"a", "b", "w"}
	lns := map[string]net.Listener{}
	var peers []Peer
	for _, n := range names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		lns[n] = ln
		peers = append(peers, Peer{Name: n, Addr: ln.Addr().String()})
	}
	dir := t.TempDir()
	ms := map[string]*Raft{}
	for _, n := range names {
		m, err := NewRaft(RaftConfig{Name: n, Listener: lns[n], Dir: dir + "/" + n, Peers: peers,
			Secret: []byte("secret"), Logger: zaptest.NewLogger(t)})
		require.NoError(t, err)
		ms[n] = m
	}
	return ms
}

// Any member proposes (followers forward to the leader), every member
// applies, and the group goes on when one member stops: two of three are
// a majority.
func TestRaftGroupSurvivesOneMember(t *testing.T) {
	ms := startRaftGroup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range []string{"a", "b", "w"} {
		res, err := ms[n].Propose(ctx, Command{Op: OpRenew, Node: n})
		require.NoError(t, err)
		require.True(t, res.OK)
		require.Equal(t, uint64(1), res.Count)
	}
	res, err := ms["a"].Propose(ctx, Command{Op: OpClaim, Node: "a", Bank: "a"})
	require.NoError(t, err)
	require.True(t, res.OK)
	require.Eventually(t, func() bool { return ms["w"].State().Banks["a"].Primary == "a" }, 5*time.Second, 10*time.Millisecond)

	leader := ms["a"].Leader()
	require.NotEmpty(t, leader)
	require.NoError(t, ms[leader].Close())
	delete(ms, leader)
	for n, m := range ms {
		res, err := m.Propose(ctx, Command{Op: OpRenew, Node: n})
		require.NoError(t, err, "member %s after the leader %s stopped", n, leader)
		require.True(t, res.OK)
	}
	for _, m := range ms {
		require.NoError(t, m.Close())
	}
}

// A connection that does not know the secret is refused.
func TestRaftRefusesAStranger(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	good := newStreamLayer(&RaftConfig{Name: "good", Listener: ln, Secret: []byte("secret")}, zaptest.NewLogger(t))
	defer good.Close()
	stranger := &streamLayer{secret: []byte("other"), filter: newFilter()}
	_, err = stranger.dial(ln.Addr().String(), kindRaft, time.Second)
	require.ErrorIs(t, err, ErrAuth)
	c, err := (&streamLayer{secret: []byte("secret"), filter: newFilter()}).dial(ln.Addr().String(), kindRaft, time.Second)
	require.NoError(t, err)
	accepted, err := good.Accept()
	require.NoError(t, err)
	_ = accepted.Close()
	_ = c.Close()
}
