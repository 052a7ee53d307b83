package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftm-in-go/ftm/node/control"
)

// Errors a call can end with (wrapped with the call and the node's reason).
var (
	// ErrRefused: the node refused the request itself (an unknown server
	// or operation, an argument that does not decode as its request): it
	// is not retried.
	ErrRefused = errors.New("client: call refused")
	// ErrAuth: the node refused the client's token (a wrong secret).
	ErrAuth = errors.New("client: authentication failed")
	// ErrUnavailable: no node answered the call before its deadline (both
	// down, or the bank's servers not running: its backup not attached).
	ErrUnavailable = errors.New("client: no node answered")
	// ErrClosed: the Conn was closed.
	ErrClosed = errors.New("client: closed")
)

// Config says how to reach a pair.
type Config struct {
	// Dir is the pair's directory (ftmctl pair up --dir): its pair.json
	// names the nodes, DIR/NODE.sock are their control sockets and
	// DIR/secret the credentials. Nodes and Secret override it.
	Dir string
	// Nodes are the nodes to call (default: those of Dir's pair.json).
	Nodes []Node
	// Secret is the pair's secret (default: read from Dir).
	Secret []byte
	// Name labels the client's request ids in the servers' duplicate
	// tables (default "client"); a random nonce makes each Conn's unique.
	Name string
	// Timeout bounds a call whose context has no deadline (default 30s:
	// long enough to ride out a takeover and re-protection).
	Timeout time.Duration
	// Backoff is the first pause between attempts (default 20ms); it
	// doubles up to 100ms.
	Backoff time.Duration
	// AttemptTimeout bounds one attempt on one node (default 500ms): a
	// node that does not answer in time (frozen, or cut off) is left for
	// its partner, with the same request id (attempt.go).
	AttemptTimeout time.Duration
}

// Node is one node of the pair: its name and its control socket.
type Node struct {
	Name   string
	Socket string
}

// Conn calls the reliable servers of one pair. It is safe for concurrent
// use and holds no lock across a call: concurrent calls travel on
// connections of their own.
type Conn struct {
	cfg   Config
	nodes []*nodeConn
	ids   *numbering

	mu     sync.Mutex     // guards the fields below
	pref   map[string]int // bank → the node that answered its last call
	closed bool
	down   map[int]time.Time // node → until when it is passed over (attempt.go)
}

// nodeConn is one node's control socket.
type nodeConn struct {
	name  string
	http  *http.Client
	token string
	dials atomic.Int64 // connections opened to the socket
}

// Dial returns a Conn to the pair cfg describes. It does not contact the
// nodes: a node that is down when a call is made is skipped then.
func Dial(cfg Config) (*Conn, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	c := &Conn{cfg: cfg, ids: newNumbering(cfg.Name + "/" + hex.EncodeToString(nonce[:])), pref: map[string]int{}}
	for _, n := range cfg.Nodes {
		c.nodes = append(c.nodes, dialNode(n, cfg.Secret))
	}
	return c, nil
}

// DialPair returns a Conn to the pair whose directory is dir.
func DialPair(dir string) (*Conn, error) { return Dial(Config{Dir: dir}) }

// withDefaults completes cfg from its Dir and the defaults.
func withDefaults(cfg Config) (Config, error) {
	if len(cfg.Nodes) == 0 && cfg.Dir != "" {
		st, err := control.LoadPair(cfg.Dir)
		if err != nil {
			return cfg, fmt.Errorf("client: %w", err)
		}
		for _, n := range st.Nodes {
			cfg.Nodes = append(cfg.Nodes, Node{Name: n.Name, Socket: filepath.Join(cfg.Dir, n.Name+".sock")})
		}
	}
	if len(cfg.Nodes) == 0 {
		return cfg, errors.New("client: no node to call (set Dir or Nodes)")
	}
	if cfg.Secret == nil && cfg.Dir != "" {
		s, err := control.ReadSecret(cfg.Dir)
		if err != nil {
			return cfg, fmt.Errorf("client: %w", err)
		}
		cfg.Secret = s
	}
	if cfg.Secret == nil {
		return cfg, errors.New("client: no secret (set Dir or Secret)")
	}
	if cfg.Name == "" {
		cfg.Name = "client"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 20 * time.Millisecond
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = defaultAttemptTimeout
	}
	return cfg, nil
}

// dialNode makes the HTTP client of one node's control socket: idle
// connections are kept for as many concurrent callers as there are.
func dialNode(n Node, secret []byte) *nodeConn {
	sock := n.Socket
	nc := &nodeConn{name: n.Name, token: control.AuthScheme + hex.EncodeToString(control.Token(secret, n.Name))}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			nc.dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Minute,
	}
	nc.http = &http.Client{Transport: tr}
	return nc
}

// Close ends the Conn's idle connections; calls made after it fail with
// ErrClosed.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	for _, n := range c.nodes {
		n.http.CloseIdleConnections()
	}
	return nil
}

// first returns the node to try first for bank: the one that answered
// its last call, else the node named after the bank (it runs the bank's
// servers while it lives), else the first.
func (c *Conn) first(bank string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, ErrClosed
	}
	if i, ok := c.pref[bank]; ok {
		return i, nil
	}
	for i, n := range c.nodes {
		if n.name == bank {
			return i, nil
		}
	}
	return 0, nil
}

// answered records that node i answered a call to bank.
func (c *Conn) answered(bank string, i int) {
	c.mu.Lock()
	c.pref[bank] = i
	c.mu.Unlock()
}
