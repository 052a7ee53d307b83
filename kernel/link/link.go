package link

import (
	"context"
	"errors"
	"fmt"
)

// Service names the user of a frame, so one link between two nodes carries
// port messages, STM mirroring, heartbeats and control traffic side by side.
type Service uint8

// The services that share a link.
const (
	ServicePorts     Service = 1 // netmsg proxying of port messages (package kernel)
	ServiceSTM       Service = 2 // STM mirroring to the backup bank (package stm)
	ServiceHeartbeat Service = 3 // failure detection between partner nodes
	ServiceControl   Service = 4 // control requests (ftmctl)
	ServiceSTMPeer   Service = 5 // STM mirroring of the second bank of a pair (pair)
)

// Frame is one unit on a link. On TCP it travels as a 4-byte big-endian length
// followed by the msgpack encoding of the Frame; Body is opaque to the link and
// encoded by the service that owns it.
type Frame struct {
	Service Service `codec:"s"`
	Kind    uint8   `codec:"k"`
	Seq     uint64  `codec:"q"`
	Body    []byte  `codec:"b"`
}

// Link is a bidirectional, ordered, reliable-while-alive channel of frames to
// one peer node. Once the link fails, every call returns an error wrapping
// ErrClosed or the cause, and Done is closed.
type Link interface {
	// Send queues f for the peer; it blocks while the link's send buffer is
	// full, until ctx ends or the link fails. The link does not keep f.Body
	// after Send returns.
	Send(ctx context.Context, f Frame) error
	// Recv returns the next frame from the peer.
	Recv(ctx context.Context) (Frame, error)
	// Close tears the link down; the peer sees ErrClosed.
	Close() error
	// Done is closed when the link has failed or been closed. A link
	// notices that its peer is gone while a Recv is waiting (keep one
	// waiting, as the Mux and the kernel's proxy do) or when a Send fails.
	Done() <-chan struct{}
	// Err says why the link ended (nil while it is alive).
	Err() error
	// Peer is the authenticated name of the node on the other side.
	Peer() string
}

// Errors returned by links.
var (
	ErrClosed        = errors.New("link: closed")
	ErrFrameTooLarge = errors.New("link: frame exceeds size limit")
	ErrCorruptFrame  = errors.New("link: corrupt frame")
	// ErrAuth: the handshake did not authenticate the peer. Wrapped by
	// ErrRejected when the peer proved it is not a member of the pair, and
	// by ErrHandshakeCut when it hung up or did not answer in time.
	ErrAuth = errors.New("link: handshake failed")
	// ErrRejected (which wraps ErrAuth) says the peer completed the
	// handshake's first round and proved it is not a member of the pair: it
	// does not share the secret or is not an FTM link. Retrying will not
	// help.
	ErrRejected = fmt.Errorf("%w: peer authentication failed", ErrAuth)
	// ErrHandshakeCut (which wraps ErrAuth) says the handshake ended before
	// the peer proved anything: it hung up, timed out or was interrupted,
	// as when the partner restarts or already has a link. Retrying helps.
	ErrHandshakeCut = fmt.Errorf("%w: cut before the peer was authenticated (it hung up or did not answer; normal while it restarts)", ErrAuth)
)
