package kernel

import (
	"context"
	"sync"
)

// proxy marks a port that stands for a port on another node.
type proxy struct {
	peer string
	id   portID
}

// portID is a node-independent, unguessable port identifier.
type portID [16]byte

// netmsg is the node's netmsgserver: it proxies port messages to and from
// the node's links.
type netmsg struct {
	n  *Node
	mu sync.Mutex
}

func newNetmsg(n *Node) *netmsg { return &netmsg{n: n} }

func (nm *netmsg) shutdown() {}

func (nm *netmsg) forward(ctx context.Context, p *port, m *Message) error { return ErrNoLink }

func (nm *netmsg) forwardLocked(m *Message) {}

func (nm *netmsg) proxyUnused(p *port) {}

func (nm *netmsg) proxyDead(p *port) {}
