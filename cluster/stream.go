package cluster

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"
)

// One TCP port carries a member's consensus traffic: each connection
// starts with a kind byte (raft's RPCs, or a proposal forwarded to the
// leader) and an HMAC challenge-response over the group's secret, both
// ways, before anything else. Connections are authenticated concurrently,
// each within handshakeTimeout, so silent connections delay no one.
const (
	kindRaft    byte = 'R'
	kindForward byte = 'F'

	handshakeTimeout = 2 * time.Second
	nonceSize        = 32
)

// ErrAuth: a connection's peer does not share the secret.
var ErrAuth = errors.New("cluster: peer failed authentication")

// mac is HMAC-SHA256(secret, role and kind | both nonces).
func mac(secret []byte, roleKind [2]byte, dn, ln []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write(roleKind[:])
	h.Write(dn)
	h.Write(ln)
	return h.Sum(nil)
}

// dialAuth opens conn's side of the handshake as the dialer, for kind.
func dialAuth(conn net.Conn, secret []byte, kind byte) error {
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	defer conn.SetDeadline(time.Time{})
	dn := make([]byte, nonceSize)
	_, _ = rand.Read(dn)
	if _, err := conn.Write(append([]byte{kind}, dn...)); err != nil {
		return err
	}
	resp := make([]byte, nonceSize+sha256.Size)
	if _, err := io.ReadFull(conn, resp); err != nil {
		return fmt.Errorf("%w: %w", ErrAuth, err)
	}
	ln := resp[:nonceSize]
	if !hmac.Equal(resp[nonceSize:], mac(secret, [2]byte{'L', kind}, dn, ln)) {
		return ErrAuth
	}
	_, err := conn.Write(mac(secret, [2]byte{'D', kind}, dn, ln))
	return err
}

// acceptAuth runs the listener's side and returns the connection's kind.
func acceptAuth(conn net.Conn, secret []byte) (byte, error) {
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	defer conn.SetDeadline(time.Time{})
	first := make([]byte, 1+nonceSize)
	if _, err := io.ReadFull(conn, first); err != nil {
		return 0, err
	}
	kind, dn := first[0], first[1:]
	ln := make([]byte, nonceSize)
	_, _ = rand.Read(ln)
	if _, err := conn.Write(append(ln, mac(secret, [2]byte{'L', kind}, dn, ln)...)); err != nil {
		return 0, err
	}
	proof := make([]byte, sha256.Size)
	if _, err := io.ReadFull(conn, proof); err != nil {
		return 0, err
	}
	if !hmac.Equal(proof, mac(secret, [2]byte{'D', kind}, dn, ln)) {
		return 0, ErrAuth
	}
	return kind, nil
}

// streamLayer is raft's StreamLayer over the member's port: it hands raft
// the connections of kind kindRaft and forwarded proposals to forward.
type streamLayer struct {
	ln     net.Listener
	secret []byte
	// forward serves a forwarded proposal; nil (refused) until the
	// member's raft runs.
	forward atomic.Pointer[func(net.Conn)]
	log     *zap.Logger

	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func newStreamLayer(ln net.Listener, secret []byte, log *zap.Logger) *streamLayer {
	s := &streamLayer{ln: ln, secret: secret, log: log, conns: make(chan net.Conn), done: make(chan struct{})}
	go s.acceptLoop()
	return s
}

func (s *streamLayer) acceptLoop() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			s.Close()
			return
		}
		go s.sort(conn)
	}
}

// sort authenticates conn and hands it to raft or to the forward handler.
func (s *streamLayer) sort(conn net.Conn) {
	kind, err := acceptAuth(conn, s.secret)
	if err != nil {
		s.log.Warn("consensus connection refused", zap.Stringer("from", conn.RemoteAddr()), zap.Error(err))
		_ = conn.Close()
		return
	}
	switch {
	case kind == kindRaft:
		select {
		case s.conns <- conn:
		case <-s.done:
			_ = conn.Close()
		}
	case kind == kindForward && s.forward.Load() != nil:
		(*s.forward.Load())(conn)
	default:
		_ = conn.Close()
	}
}

// Accept returns the next authenticated raft connection.
func (s *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting.
func (s *streamLayer) Close() error {
	s.once.Do(func() { close(s.done); _ = s.ln.Close() })
	return nil
}

// Addr is the listening address.
func (s *streamLayer) Addr() net.Addr { return s.ln.Addr() }

// Dial opens an authenticated raft connection.
func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return s.dial(string(addr), kindRaft, timeout)
}

func (s *streamLayer) dial(addr string, kind byte, timeout time.Duration) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if err := dialAuth(conn, s.secret, kind); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("consensus handshake with %s: %w", addr, err)
	}
	return conn, nil
}
