package link

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// holdSilent opens n raw TCP connections to addr that never say anything,
// closed when the test ends.
func holdSilent(t *testing.T, addr string, n int) []net.Conn {
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns
}

// Connections that connect and then say nothing do not keep a genuine peer
// out: the listener authenticates the peer while they are still held open
// and unanswered, well inside one handshake timeout (one at a time, the
// peer would wait behind six of them).
func TestListenerAcceptsPeerPastSilentConnections(t *testing.T) {
	const timeout = 2 * time.Second
	lis, err := Listen("127.0.0.1:0", Config{Name: "beta", Secret: secret, HandshakeTimeout: timeout})
	require.NoError(t, err)
	defer lis.Close()
	silent := holdSilent(t, lis.Addr(), 6) // queued ahead of the peer

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	accepted := make(chan *TCP, 1)
	go func() { a, _ := lis.Accept(ctx); accepted <- a }()
	d, err := Dial(ctx, lis.Addr(), Config{Name: "alpha", Secret: secret, HandshakeTimeout: timeout})
	require.NoError(t, err, "the genuine dialer got through within one handshake timeout")
	defer d.Close()
	a := <-accepted
	require.NotNil(t, a)
	defer a.Close()
	require.Equal(t, "alpha", a.Peer())
	require.Equal(t, "beta", d.Peer())

	// The silent connections were never authenticated; the listener
	// hangs up on them once Accept has its peer.
	for _, c := range silent {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var hello [256]byte
		for {
			if _, err := c.Read(hello[:]); err != nil {
				require.ErrorIs(t, err, io.EOF)
				break
			}
		}
	}
	require.NoError(t, d.Send(ctxT(t), Frame{Seq: 1}))
	f, err := a.Recv(ctxT(t))
	require.NoError(t, err)
	require.Equal(t, uint64(1), f.Seq)
}

// Beyond MaxPending unanswered handshakes, a new connection is closed at
// once instead of queueing behind them.
func TestListenerClosesConnectionsBeyondMaxPending(t *testing.T) {
	lis, err := Listen("127.0.0.1:0", Config{Name: "beta", Secret: secret, MaxPending: 2, HandshakeTimeout: time.Minute})
	require.NoError(t, err)
	defer lis.Close()
	ctx, cancel := context.WithCancel(context.Background())
	acceptErr := make(chan error, 1)
	go func() { _, err := lis.Accept(ctx); acceptErr <- err }()

	silent := holdSilent(t, lis.Addr(), 3)
	closed := 0
	for _, c := range silent {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		var hello [256]byte
		if _, err := io.ReadFull(c, hello[:1]); err != nil {
			require.ErrorIs(t, err, io.EOF, "only the connection past the cap is closed; the others get a hello")
			closed++
		}
	}
	require.Equal(t, 1, closed)
	cancel()
	require.ErrorIs(t, <-acceptErr, context.Canceled)
}

// An Accept whose context ends cuts the handshakes it started; the next
// Accept still works.
func TestListenerAcceptCancelledThenAcceptsAgain(t *testing.T) {
	lis, err := Listen("127.0.0.1:0", Config{Name: "beta", Secret: secret, HandshakeTimeout: time.Minute})
	require.NoError(t, err)
	defer lis.Close()
	holdSilent(t, lis.Addr(), 2)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err = lis.Accept(ctx)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)

	ctx = ctxT(t)
	accepted := make(chan *TCP, 1)
	go func() { a, _ := lis.Accept(ctx); accepted <- a }()
	d, err := Dial(ctx, lis.Addr(), Config{Name: "alpha", Secret: secret})
	require.NoError(t, err)
	defer d.Close()
	a := <-accepted
	require.NotNil(t, a)
	a.Close()
}
