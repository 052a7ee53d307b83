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
// ways, before anything else; the dialer names itself inside the
// handshake (the consensus filter, filter.go, cuts by name). Connections are authenticated concurrently,
// each within handshakeTimeout, so silent connections delay no one.
const (
	kindRaft    byte = 'R'
	kindForward byte = 'F'

	handshakeTimeout = 2 * time.Second
	nonceSize        = 32
	maxNameLen       = 255
)

// Errors of the consensus connections.
var (
	// ErrAuth: a connection's peer does not share the secret.
	ErrAuth = errors.New("cluster: peer failed authentication")
	// ErrCut: the peer's consensus traffic is cut (Raft.Cut).
	ErrCut = errors.New("cluster: consensus traffic cut (fault injection)")
)

// mac is HMAC-SHA256(secret, role and kind | both nonces | the dialer's name).
func mac(secret []byte, roleKind [2]byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write(roleKind[:])
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// dialAuth opens conn's side of the handshake as the dialer name, for kind.
func dialAuth(conn net.Conn, secret []byte, kind byte, name string) error {
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
	if len(name) > maxNameLen {
		return fmt.Errorf("%w: member name longer than %d bytes", ErrConfig, maxNameLen)
	}
	proof := mac(secret, [2]byte{'D', kind}, dn, ln, []byte(name))
	_, err := conn.Write(append(append(proof, byte(len(name))), name...))
	return err
}

// acceptAuth runs the listener's side and returns the connection's kind
// and the name its dialer gave.
func acceptAuth(conn net.Conn, secret []byte) (byte, string, error) {
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	defer conn.SetDeadline(time.Time{})
	first := make([]byte, 1+nonceSize)
	if _, err := io.ReadFull(conn, first); err != nil {
		return 0, "", err
	}
	kind, dn := first[0], first[1:]
	ln := make([]byte, nonceSize)
	_, _ = rand.Read(ln)
	if _, err := conn.Write(append(ln, mac(secret, [2]byte{'L', kind}, dn, ln)...)); err != nil {
		return 0, "", err
	}
	proof := make([]byte, sha256.Size+1)
	if _, err := io.ReadFull(conn, proof); err != nil {
		return 0, "", err
	}
	name := make([]byte, proof[sha256.Size])
	if _, err := io.ReadFull(conn, name); err != nil {
		return 0, "", err
	}
	if !hmac.Equal(proof[:sha256.Size], mac(secret, [2]byte{'D', kind}, dn, ln, name)) {
		return 0, "", ErrAuth
	}
	return kind, string(name), nil
}

// streamLayer is raft's StreamLayer over the member's port: it hands raft
// the connections of kind kindRaft and forwarded proposals to forward;
// every connection, both ways, passes the member's filter.
type streamLayer struct {
	ln     net.Listener
	secret []byte
	name   string            // this member, as it names itself to the members it dials
	names  map[string]string // a member's consensus address → its name
	filter *filter
	// forward serves a forwarded proposal; nil (refused) until the
	// member's raft runs.
	forward atomic.Pointer[func(net.Conn)]
	log     *zap.Logger

	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func newStreamLayer(cfg *RaftConfig, log *zap.Logger) *streamLayer {
	s := &streamLayer{ln: cfg.Listener, secret: cfg.Secret, name: cfg.Name, names: map[string]string{}, filter: newFilter(),
		log: log, conns: make(chan net.Conn), done: make(chan struct{})}
	for _, p := range cfg.Peers {
		s.names[p.Addr] = p.Name
	}
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
	kind, peer, err := acceptAuth(conn, s.secret)
	if err != nil {
		s.log.Warn("consensus connection refused", zap.Stringer("from", conn.RemoteAddr()), zap.Error(err))
		_ = conn.Close()
		return
	}
	conn, ok := s.filter.track(conn, peer)
	if !ok {
		s.log.Debug("consensus connection refused: cut", zap.String("from", peer))
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
	peer := s.names[addr]
	if s.filter.blocked(peer) {
		return nil, fmt.Errorf("dial %s at %s: %w", peer, addr, ErrCut)
	}
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if err := dialAuth(conn, s.secret, kind, s.name); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("consensus handshake with %s: %w", addr, err)
	}
	conn, ok := s.filter.track(conn, peer)
	if !ok {
		return nil, fmt.Errorf("dial %s at %s: %w", peer, addr, ErrCut)
	}
	return conn, nil
}
