package node

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/node/control"
)

// A restarted node waits for its address: the SIGKILLed process it replaces
// may still hold it for a moment.
func TestListenLinkWaitsForTheAddress(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := held.Addr().String()
	go func() { time.Sleep(200 * time.Millisecond); held.Close() }()
	l, err := nodeLinks{name: "n1", secret: []byte("secret-secret-secret"), log: zap.NewNop()}.listen(addr)
	require.NoError(t, err, "the address was released after 200ms")
	require.NoError(t, l.(tcpListener).Close())
}

// Six connections that say nothing, held on a node's link port, do not keep
// its restarted partner out: the partner links again and both banks are
// protected again, as they would be without them.
func TestRestartedPartnerReprotectsPastSilentConnections(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := newPairDir(t, "n1", "n2") // n1 dials, n2 listens
	st, err := control.LoadPair(dir)
	require.NoError(t, err)
	n2, err := st.Node("n2")
	require.NoError(t, err)
	regs := []Registration{Server("counter", newCounter, Op(addOp))}
	stop1, stop2 := runNode(t, dir, "n1", regs), runNode(t, dir, "n2", regs)
	defer func() { require.NoError(t, stop2()) }()
	c2 := newTestClient(dir, "n2")
	protected := func() bool {
		var st control.Status
		return c2.do(http.MethodGet, "/status", nil, &st) == nil && st.Linked && backedUp(st.STM)
	}
	eventually(t, "n2's banks are protected", protected)

	require.NoError(t, stop1())
	eventually(t, "n2 took n1's bank over", func() bool {
		var st control.Status
		return c2.do(http.MethodGet, "/status", nil, &st) == nil && st.STM != nil && st.STM.Takeovers == 1
	})
	for range 6 {
		c, err := net.Dial("tcp", n2.Addr)
		require.NoError(t, err)
		defer c.Close()
	}
	restarted := time.Now()
	stop1 = runNode(t, dir, "n1", regs)
	defer func() { require.NoError(t, stop1()) }()
	eventually(t, "n1 rejoined past the silent connections and both banks are protected again", protected)
	// Generous: handshaking them one at a time took six 5 s handshake timeouts.
	require.Less(t, time.Since(restarted), 5*time.Second, "the silent connections delayed the partner by at most one handshake timeout")
}
