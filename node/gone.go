package node

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/ftm-in-go/ftm/pair"
)

// A partner proven gone is taken over at once (package cluster, gone.go):
// a node never closes its link listener while it may still commit — Run
// closes the listener last, after the banks — so a connection to the
// partner's link address refused by its kernel (ECONNREFUSED) proves that
// no process of the partner can commit any more. A timeout proves nothing
// (a frozen process, a lost host, a cut network: the lease decides), nor
// does a connection accepted (a live or restarted partner), nor anything
// while this node's fault switch cuts the partner (a simulated partition).

// How the probe tries the partner's link address: attempts
// 5 ms apart for up to 50 ms (a killed process's kernel may close its link
// before its listener), each bounded by a short timeout.
const (
	goneAttempts = 10
	goneTimeout  = 100 * time.Millisecond
	gonePause    = 5 * time.Millisecond
)

// peerAddrs maps each peer of the node (a pair: the partner) to its link
// address.
func peerAddrs(ns *setup) map[string]string {
	addrs := make(map[string]string, len(ns.peers))
	for _, p := range ns.peers {
		addrs[p.Name] = p.Addr
	}
	return addrs
}

// peerGone is the Stable's PartnerGone: whether the lost peer's process is
// proven gone by a refused connection to its link address.
func (rt *nodeRuntime) peerGone(ctx context.Context, peer string) bool {
	addr, ok := rt.peerAddrs[peer]
	if !ok {
		return false
	}
	for attempt := 0; attempt < goneAttempts && ctx.Err() == nil; attempt++ {
		if rt.faults.Partitioned() {
			return false
		}
		d := net.Dialer{Timeout: goneTimeout}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = c.Close()
		} else if errors.Is(err, syscall.ECONNREFUSED) {
			return true
		}
		time.Sleep(gonePause)
	}
	return false
}

// TakeOverGone takes bank over at once: the partner's process is gone.
func (g groupLeases) TakeOverGone(ctx context.Context, bank string) error {
	_, err := g.l.TakeOverGone(ctx, bank)
	return pairErr(err)
}

var _ pair.GoneTaker = groupLeases{}
