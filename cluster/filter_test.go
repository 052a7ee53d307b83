package cluster

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// A cut refuses the named member's connections both ways and closes the
// open ones; other members pass; a heal lets it in again.
func TestFilterCutsANamedMemberBothWays(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	secret := []byte("secret")
	// A refused connection is logged by a goroutine that may outlive the
	// test: no test logger.
	a := newStreamLayer(&RaftConfig{Name: "a", Listener: ln, Secret: secret}, zap.NewNop())
	defer a.Close()
	dialer := func(name string) *streamLayer {
		return &streamLayer{name: name, secret: secret, filter: newFilter(), names: map[string]string{ln.Addr().String(): "a"}}
	}
	b, w := dialer("b"), dialer("w")
	open, err := b.dial(ln.Addr().String(), kindRaft, time.Second)
	require.NoError(t, err)
	fromB, err := a.Accept()
	require.NoError(t, err)

	a.filter.set([]string{"b"}, time.Now().Add(time.Hour))
	require.Equal(t, []string{"b"}, a.filter.current())
	_, err = fromB.Read(make([]byte, 1))
	require.Error(t, err, "the open connection from b was closed at the cut")
	_ = open.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = open.Read(make([]byte, 1))
	require.Error(t, err, "b sees its connection end")

	refused, err := b.dial(ln.Addr().String(), kindRaft, time.Second)
	if err == nil { // the handshake completes on b's side; a closes it unread
		_ = refused.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = refused.Read(make([]byte, 1))
		require.Error(t, err, "a refuses b's new connection")
	}
	cw, err := w.dial(ln.Addr().String(), kindRaft, time.Second)
	require.NoError(t, err, "w is not cut")
	_, err = a.Accept()
	require.NoError(t, err)
	_ = cw.Close()

	b.filter.set([]string{"a"}, time.Now().Add(time.Hour))
	_, err = b.dial(ln.Addr().String(), kindRaft, time.Second)
	require.ErrorIs(t, err, ErrCut, "b does not dial a member it cut")

	a.filter.heal()
	b.filter.heal()
	c, err := b.dial(ln.Addr().String(), kindRaft, time.Second)
	require.NoError(t, err)
	_, err = a.Accept()
	require.NoError(t, err, "healed: b gets through again")
	_ = c.Close()
}

// A member cut from the others on its own side only loses the group: it
// commits nothing (its proposals, forwarded or its own, reach no
// majority), the other two go on; healed, it catches up.
func TestCutMemberLosesTheGroupAndCatchesUp(t *testing.T) {
	ms := startRaftGroup(t)
	defer func() {
		for _, m := range ms {
			_ = m.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := ms["a"].Propose(ctx, Command{Op: OpRenew, Node: "a"})
	require.NoError(t, err)
	leader := ms["a"].Leader()
	require.NotEmpty(t, leader)
	var others []string
	for n := range ms {
		if n != leader {
			others = append(others, n)
		}
	}
	ms[leader].Cut(others, 0)
	require.ElementsMatch(t, others, ms[leader].CutOff())

	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	_, err = ms[leader].Propose(short, Command{Op: OpRenew, Node: leader})
	cancelShort()
	require.Error(t, err, "the cut member reaches no majority")
	res, err := ms[others[0]].Propose(ctx, Command{Op: OpClaim, Node: others[0], Bank: "x"})
	require.NoError(t, err, "the other two are a majority")
	require.True(t, res.OK)
	require.NotEqual(t, leader, ms[others[1]].Leader())
	require.Empty(t, ms[leader].State().Banks["x"].Primary, "the cut member did not learn the claim")

	ms[leader].Heal()
	require.Empty(t, ms[leader].CutOff())
	require.Eventually(t, func() bool { return ms[leader].State().Banks["x"].Primary == others[0] },
		10*time.Second, 10*time.Millisecond, "healed, the member catches up")
}
