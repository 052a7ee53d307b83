package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/internal/proctest"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/kernel/link/linkcert"
	"github.com/ftm-in-go/ftm/node/control"
	"github.com/ftm-in-go/ftm/pair"
)

// linkHandshakeTimeout is the links' handshake timeout (kernel/link's
// default, which nodes keep): the most a connection that never answers may
// delay a genuine partner.
const linkHandshakeTimeout = 5 * time.Second

// newHostsPairDir is newPairDir with node i on hosts[i] (loopback addresses
// standing for hosts: Linux routes all of 127/8 to lo).
func newHostsPairDir(t *testing.T, names, hosts []string) string {
	t.Helper()
	dir := newPairDir(t, names...)
	st, err := control.LoadPair(dir)
	require.NoError(t, err)
	for i := range st.Nodes {
		l, err := net.Listen("tcp", net.JoinHostPort(hosts[i], "0"))
		require.NoError(t, err)
		st.Nodes[i].Addr = l.Addr().String()
		require.NoError(t, l.Close())
	}
	require.NoError(t, control.SavePair(dir, st))
	return dir
}

// holdSilentFrom opens n TCP connections from host to addr that never say
// anything, closed when the test ends.
func holdSilentFrom(t *testing.T, host, addr string, n int) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(host)}}
	for range n {
		c, err := d.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
	}
}

// nodeProcess is a node of a pair's directory running in its own process.
type nodeProcess struct {
	dir, name string
	p         *proctest.Process
}

// killAndReprotect SIGKILLs n, waits until its partner (c) holds both
// banks (the dead node's taken over, or kept since the last restart),
// calls whileDown, starts n again, and
// returns how long the pair took from the restart to be protected again:
// linked, both banks backed up.
func killAndReprotect(t *testing.T, n *nodeProcess, c *testClient, whileDown func()) time.Duration {
	t.Helper()
	require.NoError(t, n.p.Kill())
	eventually(t, "the partner holds both banks", func() bool {
		st, ok := groupStatus(c)
		return ok && !st.Linked && holdsBoth(st.STM)
	})
	whileDown()
	restarted := time.Now()
	n.p = startNodeProcess(t, n.dir, n.name)
	eventually(t, "the restarted node linked and both banks are protected again", func() bool {
		st, ok := groupStatus(c)
		return ok && st.Linked && backedUp(st.STM)
	})
	return time.Since(restarted)
}

// holdsBoth reports whether st shows two banks held as primary.
func holdsBoth(st *pair.StableStatus) bool {
	if st == nil {
		return false
	}
	held := 0
	for _, b := range st.Banks {
		if b.Role != pair.RoleBackup {
			held++
		}
	}
	return held == 2
}

// requireTLSPort checks that addr speaks TLS with node name's certificate,
// signed by the pair's CA in dir.
func requireTLSPort(t *testing.T, dir, name, addr string) {
	t.Helper()
	pemCA, err := os.ReadFile(linkcert.NodePaths(dir, name).CA)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pemCA))
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: name})
	require.NoError(t, err, "the link port presents %s's certificate, signed by the pair's CA", name)
	require.Equal(t, uint16(tls.VersionTLS13), c.ConnectionState().Version)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	require.ErrorContains(t, err, "certificate required", "a client without a certificate is refused")
	c.Close()
}

// Nodes on two "hosts" (127.0.0.2 and 127.0.0.3) link over mutual TLS. n1
// is SIGKILLed and started again twice: once plainly, once with six TCP
// connections from a third host (127.0.0.1) held open and silent on n2's
// link port. The pair is protected again as fast in both cases, give or
// take one handshake timeout: the listener handshakes connections
// concurrently, each under its own deadline (one at a time, the six would
// delay n1 by six timeouts; a dialer that gave up on timeouts, for good).
func TestSIGKILLedPartnerReprotectsPastSilentConnections(t *testing.T) {
	dir := newHostsPairDir(t, []string{"n1", "n2"}, []string{"127.0.0.2", "127.0.0.3"}) // n1 dials, n2 listens
	st, err := control.LoadPair(dir)
	require.NoError(t, err)
	n2, err := st.Node("n2")
	require.NoError(t, err)
	n1 := &nodeProcess{dir: dir, name: "n1", p: startNodeProcess(t, dir, "n1")}
	startNodeProcess(t, dir, "n2")
	c2 := newTestClient(dir, "n2")
	eventually(t, "both banks protected", func() bool {
		st, ok := groupStatus(c2)
		return ok && st.Linked && backedUp(st.STM)
	})

	// While n1 is down, n2 waits for it on its link port (it accepts only then).
	plain := killAndReprotect(t, n1, c2, func() { requireTLSPort(t, dir, "n2", n2.Addr) })
	silent := killAndReprotect(t, n1, c2, func() { holdSilentFrom(t, "127.0.0.1", n2.Addr, 6) })
	t.Logf("restart to protected again: %v plainly, %v with six silent connections", plain, silent)
	require.Less(t, silent, plain+linkHandshakeTimeout,
		"six silent connections delayed the restarted partner by at most one handshake timeout")
}

// The link flags fill Config: the listen address, the certificate files,
// plain links.
func TestMainLinkFlags(t *testing.T) {
	cfg, err := parseFlags("mynode", []string{"--name", "n1", "--dir", "/d", "--listen", "0.0.0.0:7100",
		"--link-cert", "c.crt", "--link-key", "c.key", "--link-ca", "ca.crt"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, Config{Dir: "/d", Name: "n1", Listen: "0.0.0.0:7100",
		LinkCerts: linkcert.Paths{CA: "ca.crt", Cert: "c.crt", Key: "c.key"}}, cfg)
	cfg, err = parseFlags("mynode", []string{"--name", "n1", "--plain-links"}, io.Discard)
	require.NoError(t, err)
	require.True(t, cfg.PlainLinks)
}

// A node whose certificates are missing does not start, and says what to
// do; with plain links asked for, the pair links without them; a node
// over TLS refuses a plain partner's link and gives up on it (a plain
// listener is no member of a TLS pair).
func TestNodeLinkCertificatesOrPlainLinks(t *testing.T) {
	dir := newPairDir(t, "n1", "n2") // n1 dials, n2 listens
	require.NoError(t, os.RemoveAll(filepath.Join(dir, linkcert.Subdir)))
	err := Run(context.Background(), Config{Dir: dir, Name: "n1"})
	require.ErrorIs(t, err, linkcert.ErrCert)
	require.ErrorContains(t, err, "make them with `ftmctl pair up`")

	run := func(name string, plain bool) (<-chan error, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Run(ctx, Config{Dir: dir, Name: name, PlainLinks: plain, Logger: zap.NewNop()}) }()
		return done, cancel
	}
	done1, stop1 := run("n1", true)
	done2, stop2 := run("n2", true)
	defer func() { stop2(); require.NoError(t, <-done2) }()
	c2 := newTestClient(dir, "n2")
	eventually(t, "the plain pair linked", func() bool { st, ok := groupStatus(c2); return ok && st.Linked })
	stop1()
	require.NoError(t, <-done1)

	require.NoError(t, linkcert.Create(dir, "n1", "n2"))
	done1, stop1 = run("n1", false) // over TLS now, dialing n2's plain listener
	defer stop1()
	select {
	case err := <-done1:
		require.ErrorIs(t, err, link.ErrRejected, "n1 over TLS refused its plain partner and gave up")
		require.ErrorContains(t, err, "peer does not speak TLS")
	case <-time.After(20 * time.Second):
		t.Fatal("n1 kept dialing a partner that does not speak TLS")
	}
}

// A plain node dialing a partner over TLS does not retry for ever: the
// TLS listener hangs up on its hello, the dialer finds the partner speaks
// TLS, and the node stops with one clear error (as a TLS node dialing a
// plain partner does).
func TestPlainNodeRefusesAPartnerOverTLS(t *testing.T) {
	dir := newPairDir(t, "n1", "n2") // n1 dials, n2 listens
	run := func(name string, plain bool) (<-chan error, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Run(ctx, Config{Dir: dir, Name: name, PlainLinks: plain, Logger: zap.NewNop()}) }()
		return done, cancel
	}
	done2, stop2 := run("n2", false) // over TLS, listening
	defer func() { stop2(); require.NoError(t, <-done2) }()
	done1, stop1 := run("n1", true) // plain, dialing n2's TLS listener
	defer stop1()
	select {
	case err := <-done1:
		require.ErrorIs(t, err, link.ErrRejected, "n1 refused its TLS partner and gave up")
		require.ErrorIs(t, err, errPartnerSpeaksTLS)
		require.ErrorContains(t, err, "start every node the same way")
	case <-time.After(20 * time.Second):
		t.Fatal("n1 kept dialing a partner that speaks TLS")
	}
}
