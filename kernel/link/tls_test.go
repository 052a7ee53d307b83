package link_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/kernel/link/linkcert"
)

// identities makes a CA in a fresh directory and certificates for names,
// and returns each node's TLS identity.
func identities(t *testing.T, names ...string) map[string]*link.TLS {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, linkcert.Create(dir, names...))
	ids := map[string]*link.TLS{}
	for _, n := range names {
		id, err := linkcert.Load(linkcert.NodePaths(dir, n))
		require.NoError(t, err)
		ids[n] = id
	}
	return ids
}

func tlsConfig(name, peer string, id *link.TLS) link.Config {
	return link.Config{Name: name, Peer: peer, TLS: id, HandshakeTimeout: 5 * time.Second}
}

// linkUp listens with lc and dials with dc; it returns both ends' errors
// (the listener's Accept gives up half a second after the dial ended).
func linkUp(t *testing.T, lc, dc link.Config) (acc, dial *link.TCP, accErr, dialErr error) {
	t.Helper()
	lis, err := link.Listen("127.0.0.1:0", lc)
	require.NoError(t, err)
	defer lis.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type res struct {
		l   *link.TCP
		err error
	}
	got := make(chan res, 1)
	go func() { l, err := lis.Accept(ctx); got <- res{l, err} }()
	dial, dialErr = link.Dial(ctx, lis.Addr(), dc)
	select {
	case r := <-got:
		return r.l, dial, r.err, dialErr
	case <-time.After(500 * time.Millisecond):
		cancel()
		r := <-got
		return r.l, dial, r.err, dialErr
	}
}

// Two nodes of one CA link over TLS 1.3, each end authenticated by its
// certificate, and frames flow both ways.
func TestTLSLinkAuthenticatesBothEnds(t *testing.T) {
	ids := identities(t, "alpha", "beta")
	a, d, aerr, derr := linkUp(t, tlsConfig("beta", "alpha", ids["beta"]), tlsConfig("alpha", "beta", ids["alpha"]))
	require.NoError(t, derr)
	require.NoError(t, aerr)
	defer a.Close()
	defer d.Close()
	require.Equal(t, "alpha", a.Peer())
	require.Equal(t, "beta", d.Peer())
	for _, l := range []*link.TCP{a, d} {
		st, ok := l.TLSState()
		require.True(t, ok)
		require.Equal(t, uint16(tls.VersionTLS13), st.Version)
		require.Len(t, st.PeerCertificates, 1)
	}
	ctx := context.Background()
	require.NoError(t, d.Send(ctx, link.Frame{Seq: 7, Body: []byte("over tls")}))
	f, err := a.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, "over tls", string(f.Body))
	require.NoError(t, a.SendVec(ctx, link.Frame{Seq: 8}, [][]byte{[]byte("one "), []byte("frame")}))
	f, err = d.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, "one frame", string(f.Body))
}

// A node whose certificate another CA signed is refused by both ends, each
// with one error that says so (link.ErrRejected), and no link is made.
func TestTLSLinkRefusesAnotherCA(t *testing.T) {
	ours, theirs := identities(t, "alpha", "beta"), identities(t, "alpha")
	a, d, aerr, derr := linkUp(t, tlsConfig("beta", "alpha", ours["beta"]), tlsConfig("alpha", "beta", theirs["alpha"]))
	require.Nil(t, a)
	require.Nil(t, d)
	require.ErrorIs(t, derr, link.ErrRejected)
	require.ErrorContains(t, derr, "certificate signed by unknown authority", "the dialer checked the listener's certificate")
	require.ErrorIs(t, aerr, context.Canceled, "the listener refused the stranger and kept waiting")

	// The stranger as listener: the genuine dialer refuses it; the
	// listener hears its certificate was refused.
	a, d, aerr, derr = linkUp(t, tlsConfig("alpha", "beta", theirs["alpha"]), tlsConfig("beta", "alpha", ours["beta"]))
	require.Nil(t, a)
	require.Nil(t, d)
	require.ErrorIs(t, derr, link.ErrRejected)
	require.ErrorContains(t, derr, "unknown authority")
	require.ErrorIs(t, aerr, context.Canceled)
}

// A certificate of the right CA naming another node than the one expected
// is refused: by the dialer (the listener is not its partner) and by a
// listener that knows its partner's name.
func TestTLSLinkRefusesWrongPeerName(t *testing.T) {
	ids := identities(t, "alpha", "beta", "gamma")
	_, d, _, derr := linkUp(t, tlsConfig("beta", "", ids["beta"]), tlsConfig("alpha", "gamma", ids["alpha"]))
	require.Nil(t, d)
	require.ErrorIs(t, derr, link.ErrRejected)
	require.ErrorContains(t, derr, "certificate is valid for beta, not gamma")

	a, d, aerr, derr := linkUp(t, tlsConfig("beta", "alpha", ids["beta"]), tlsConfig("gamma", "beta", ids["gamma"]))
	require.Nil(t, a)
	require.Nil(t, d)
	require.ErrorIs(t, derr, link.ErrRejected)
	require.ErrorContains(t, derr, "peer refused our certificate")
	require.ErrorIs(t, aerr, context.Canceled)
}

// A node configured with a certificate that names another node fails at
// once, before any connection.
func TestTLSConfigCertificateMustNameTheNode(t *testing.T) {
	ids := identities(t, "alpha")
	_, err := link.Listen("127.0.0.1:0", tlsConfig("beta", "", ids["alpha"]))
	require.ErrorContains(t, err, `certificate is for "alpha", not "beta"`)
	_, err = link.Dial(context.Background(), "127.0.0.1:1", tlsConfig("alpha", "", ids["alpha"]))
	require.ErrorContains(t, err, "needs the Peer")
}

// A plain (secret) link dialing a TLS listener is refused, not linked.
func TestTLSListenerRefusesPlainDialer(t *testing.T) {
	ids := identities(t, "beta")
	plain := link.Config{Name: "alpha", Secret: []byte("0123456789abcdef-pair-secret"), HandshakeTimeout: 2 * time.Second}
	a, d, aerr, derr := linkUp(t, tlsConfig("beta", "", ids["beta"]), plain)
	require.Nil(t, a)
	require.Nil(t, d)
	require.Error(t, derr)
	require.ErrorIs(t, aerr, context.Canceled)
}

// Over TLS too, a connection that never says anything is dropped by the
// listener once its handshake timeout passes (per-connection deadline),
// and silent connections held open do not delay a genuine peer.
func TestTLSListenerDeadlinePerConnection(t *testing.T) {
	ids := identities(t, "alpha", "beta")
	const timeout = 300 * time.Millisecond
	lc := tlsConfig("beta", "alpha", ids["beta"])
	lc.HandshakeTimeout = timeout
	lis, err := link.Listen("127.0.0.1:0", lc)
	require.NoError(t, err)
	defer lis.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	accepted := make(chan *link.TCP, 1)
	go func() { a, _ := lis.Accept(ctx); accepted <- a }()

	var silent []net.Conn
	for range 6 {
		c, err := net.Dial("tcp", lis.Addr())
		require.NoError(t, err)
		defer c.Close()
		silent = append(silent, c)
	}
	start := time.Now()
	_ = silent[0].SetReadDeadline(time.Now().Add(20 * timeout))
	_, err = io.ReadFull(silent[0], make([]byte, 1))
	require.True(t, errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err), "the listener hung up: %v", err)
	require.GreaterOrEqual(t, time.Since(start), timeout*9/10, "not before its handshake timeout")

	d, err := link.Dial(ctx, lis.Addr(), tlsConfig("alpha", "beta", ids["alpha"]))
	require.NoError(t, err)
	defer d.Close()
	a := <-accepted
	require.NotNil(t, a)
	a.Close()
}

func isReset(err error) bool {
	var se *os.SyscallError
	return errors.As(err, &se)
}

// A dialer that trusts the cluster's CA but presents a certificate another
// CA signed is refused by the listener, which logs one warning saying why.
func TestTLSListenerRefusesCertificateOfAnotherCA(t *testing.T) {
	ours, theirs := identities(t, "alpha", "beta"), identities(t, "alpha")
	core, logs := observer.New(zap.InfoLevel)
	lc := tlsConfig("beta", "alpha", ours["beta"])
	lc.Logger = zap.New(core)
	forged := &link.TLS{CA: ours["alpha"].CA, Cert: theirs["alpha"].Cert}
	a, d, aerr, derr := linkUp(t, lc, tlsConfig("alpha", "beta", forged))
	require.Nil(t, a)
	require.Nil(t, d)
	require.ErrorIs(t, derr, link.ErrRejected)
	require.ErrorContains(t, derr, "peer refused our certificate")
	require.ErrorIs(t, aerr, context.Canceled)
	refused := logs.FilterMessage("link refused").All()
	require.Len(t, refused, 1)
	require.Equal(t, zap.WarnLevel, refused[0].Level)
	msg := refused[0].ContextMap()["error"].(string)
	require.Contains(t, msg, "peer authentication failed: peer's certificate refused: x509: certificate signed by unknown authority")
}
