package node

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel/link"
)

// A partner is proven gone only by a refused connection to its link
// port: not while its port accepts (a live or frozen process), nor while
// this node's fault switch cuts the partner. Reference: gone.go.
func TestPartnerGoneOnlyWhenItsPortRefuses(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rt := &nodeRuntime{faults: link.NewFaults(), peerAddrs: map[string]string{"n2": l.Addr().String()}}
	ctx := context.Background()
	require.False(t, rt.peerGone(ctx, "n2"), "a port that accepts: alive (or frozen)")
	require.NoError(t, l.Close())
	require.True(t, rt.peerGone(ctx, "n2"), "a port that refuses: gone")
	require.False(t, rt.peerGone(ctx, "n3"), "a node that is not a peer proves nothing")
	rt.faults.Partition(time.Minute)
	require.False(t, rt.peerGone(ctx, "n2"), "a simulated partition proves nothing")
}

// Reference: §2.1 and package cluster, gone.go — n1 is SIGKILLed: n2
// proves its process gone and takes its bank over without waiting for
// its lease, and answers a durable update of n1's server.
func TestSIGKILLedPartnerIsTakenOverWithoutTheLeaseWait(t *testing.T) {
	g := startGroupPair(t, startLoggedNode)
	dir, p1, c2 := g.dir, g.p1, g.c2
	require.NoError(t, p1.Kill())
	eventually(t, "n2 answers a durable update of n1's server", func() bool { _, err := c2.add("n1/counter", 1); return err == nil })
	b, err := os.ReadFile(filepath.Join(dir, "n2.log"))
	require.NoError(t, err)
	var gave string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "the group gave us the partner's bank") {
			gave = line
		}
	}
	require.Contains(t, gave, `"partner_gone":true`, "n2 took n1's bank over as gone, not after its lease")
}
