package link

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = []byte("0123456789abcdef-pair-secret")

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// tcpPair returns a linked (dialer, listener-side) pair on loopback.
func tcpPair(t testing.TB, dcfg, lcfg Config) (*TCP, *TCP) {
	lis, err := Listen("127.0.0.1:0", lcfg)
	require.NoError(t, err)
	defer lis.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	accepted := make(chan *TCP, 1)
	go func() {
		l, err := lis.Accept(ctx)
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- l
	}()
	d, err := Dial(ctx, lis.Addr(), dcfg)
	require.NoError(t, err)
	a := <-accepted
	require.NotNil(t, a)
	t.Cleanup(func() { d.Close(); a.Close() })
	return d, a
}

func TestTCPAuthenticatesAndCarriesFramesInOrder(t *testing.T) {
	d, a := tcpPair(t, Config{Name: "alpha", Secret: secret}, Config{Name: "beta", Secret: secret})
	require.Equal(t, "beta", d.Peer())
	require.Equal(t, "alpha", a.Peer())
	ctx := ctxT(t)
	for i := 0; i < 100; i++ {
		require.NoError(t, d.Send(ctx, Frame{Service: ServicePorts, Kind: 1, Seq: uint64(i), Body: []byte(fmt.Sprint(i))}))
	}
	for i := 0; i < 100; i++ {
		f, err := a.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, uint64(i), f.Seq)
		require.Equal(t, fmt.Sprint(i), string(f.Body))
	}
}

func TestTCPWrongSecretRefusedAndLogged(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	lis, err := Listen("127.0.0.1:0", Config{Name: "beta", Secret: secret, Logger: zap.New(core)})
	require.NoError(t, err)
	defer lis.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	acceptErr := make(chan error, 1)
	go func() { _, err := lis.Accept(ctx); acceptErr <- err }()
	_, err = Dial(ctx, lis.Addr(), Config{Name: "mallory", Secret: []byte("not-the-pair-secret!!")})
	require.ErrorIs(t, err, ErrRejected)
	require.ErrorContains(t, err, "peer authentication failed")
	require.ErrorIs(t, <-acceptErr, context.DeadlineExceeded, "the listener keeps waiting for a genuine peer")
	require.Equal(t, 1, logs.FilterMessage("link refused").Len())
	require.Contains(t, fmt.Sprint(logs.All()[0].ContextMap()["error"]), "does not know the pair's secret")
}

// A handshake the peer cuts (it restarts, or already has a link) is
// ErrHandshakeCut, not a failed authentication, on both sides: the dialer's
// error does not say "authentication failed", and the listener logs it as
// information, not as a refused link.
func TestTCPCutHandshakeIsNotAnAuthenticationFailure(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer raw.Close()
	go func() {
		if c, err := raw.Accept(); err == nil {
			c.Close() // hangs up before any hello
		}
	}()
	_, err = Dial(ctxT(t), raw.Addr().String(), Config{Name: "alpha", Secret: secret})
	require.ErrorIs(t, err, ErrHandshakeCut)
	require.NotErrorIs(t, err, ErrRejected)
	require.NotContains(t, err.Error(), "authentication failed")

	core, logs := observer.New(zap.InfoLevel)
	lis, err := Listen("127.0.0.1:0", Config{Name: "beta", Secret: secret, Logger: zap.New(core)})
	require.NoError(t, err)
	defer lis.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	acceptErr := make(chan error, 1)
	go func() { _, err := lis.Accept(ctx); acceptErr <- err }()
	c, err := net.Dial("tcp", lis.Addr())
	require.NoError(t, err)
	require.NoError(t, c.Close()) // a dialer that dies before its hello
	require.ErrorIs(t, <-acceptErr, context.DeadlineExceeded)
	require.Equal(t, 0, logs.FilterMessage("link refused").Len())
	require.Equal(t, 1, logs.FilterMessage("link handshake not completed").Len())
}

func TestTCPRefusesNonFTMPeer(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer lis.Close()
	go func() {
		c, err := lis.Accept()
		if err == nil {
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			c.Close()
		}
	}()
	_, err = Dial(ctxT(t), lis.Addr().String(), Config{Name: "alpha", Secret: secret})
	require.ErrorIs(t, err, ErrAuth)
}

func TestTCPConfigChecked(t *testing.T) {
	_, err := Listen("127.0.0.1:0", Config{Name: "x", Secret: []byte("short")})
	require.ErrorContains(t, err, "Secret")
	_, err = Dial(ctxT(t), "127.0.0.1:1", Config{Secret: secret})
	require.ErrorContains(t, err, "Name")
}

func TestTCPCloseEndsPeer(t *testing.T) {
	d, a := tcpPair(t, Config{Name: "alpha", Secret: secret}, Config{Name: "beta", Secret: secret})
	require.NoError(t, d.Close())
	_, err := a.Recv(ctxT(t))
	require.ErrorIs(t, err, ErrClosed)
	<-a.Done()
	require.ErrorIs(t, d.Send(ctxT(t), Frame{}), ErrClosed)
}

func TestTCPFrameLimit(t *testing.T) {
	d, a := tcpPair(t, Config{Name: "alpha", Secret: secret, MaxFrame: 1 << 20}, Config{Name: "beta", Secret: secret, MaxFrame: 1 << 10})
	ctx := ctxT(t)
	require.ErrorIs(t, d.Send(ctx, Frame{Body: make([]byte, 2<<20)}), ErrFrameTooLarge, "sender's own limit")
	require.NoError(t, d.Send(ctx, Frame{Body: make([]byte, 4<<10)}), "under the sender's limit, over the receiver's")
	_, err := a.Recv(ctx)
	require.ErrorIs(t, err, ErrFrameTooLarge)
	_, err = d.Recv(ctx) // the receiver closed the link
	require.ErrorIs(t, err, ErrClosed)
	<-d.Done()
}

// A Recv whose context ends mid-frame leaves the link intact: the next Recv
// finishes the frame, and the read deadline used to interrupt is cleared.
func TestTCPRecvCancelledMidFrameResumes(t *testing.T) {
	d, a := tcpPair(t, Config{Name: "alpha", Secret: secret}, Config{Name: "beta", Secret: secret})
	wire := AppendFrame(nil, &Frame{Service: ServicePorts, Kind: 9, Seq: 77, Body: []byte("split across two Recvs")})
	for _, part := range [][]byte{nil, wire[:2], wire[2:10]} {
		if len(part) > 0 {
			_, err := d.conn.Write(part)
			require.NoError(t, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		_, err := a.Recv(ctx)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NoError(t, a.Err(), "a cancelled Recv does not end the link")
	}
	_, err := d.conn.Write(wire[10:])
	require.NoError(t, err)
	f, err := a.Recv(ctxT(t))
	require.NoError(t, err)
	require.Equal(t, "split across two Recvs", string(f.Body))
	require.Equal(t, uint64(77), f.Seq)
	// The interruption's deadline is gone: a later frame still arrives.
	require.NoError(t, d.Send(ctxT(t), Frame{Seq: 78}))
	f, err = a.Recv(ctxT(t))
	require.NoError(t, err)
	require.Equal(t, uint64(78), f.Seq)
}

// Concurrent Sends and Recvs from several goroutines: every frame arrives
// once, and each sender's frames stay in order.
func TestTCPConcurrentSendersKeepPerSenderOrder(t *testing.T) {
	d, a := tcpPair(t, Config{Name: "alpha", Secret: secret}, Config{Name: "beta", Secret: secret})
	const senders, each = 4, 200
	ctx := ctxT(t)
	errs := make(chan error, senders)
	for s := 0; s < senders; s++ {
		go func() {
			for i := 0; i < each; i++ {
				if err := d.Send(ctx, Frame{Kind: uint8(s), Seq: uint64(i)}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	next := make([]uint64, senders)
	for n := 0; n < senders*each; n++ {
		f, err := a.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, next[f.Kind], f.Seq, "sender %d out of order", f.Kind)
		next[f.Kind]++
	}
	for s := 0; s < senders; s++ {
		require.NoError(t, <-errs)
	}
}

func TestTCPCorruptStreamEndsLink(t *testing.T) {
	lis, err := Listen("127.0.0.1:0", Config{Name: "beta", Secret: secret})
	require.NoError(t, err)
	defer lis.Close()
	ctx := ctxT(t)
	got := make(chan *TCP, 1)
	go func() { l, _ := lis.Accept(ctx); got <- l }()
	d, err := Dial(ctx, lis.Addr(), Config{Name: "alpha", Secret: secret})
	require.NoError(t, err)
	defer d.Close()
	a := <-got
	defer a.Close()
	// Write garbage under the link's feet: a well-sized frame that is not msgpack.
	_, err = d.conn.Write([]byte{0, 0, 0, 3, 0x93, 1, 2})
	require.NoError(t, err)
	_, err = a.Recv(ctx)
	require.ErrorIs(t, err, ErrCorruptFrame)
}
