package cluster

import (
	"net"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
)

// The consensus filter injects a network partition into a member's
// consensus traffic on purpose (ftmctl partition): while a member is cut,
// this member dials it no more, refuses the connections it dials here
// (every connection names its dialer inside the authenticated handshake),
// and the connections already open to or from it are closed at the cut, so
// neither raft's RPCs nor forwarded proposals pass either way. One side's
// filter is enough to cut a pair of members. A cut ends at its deadline or
// at Heal; raft then reconnects by itself.

// filter is a member's set of cut members and its open connections.
type filter struct {
	mu    sync.Mutex
	cut   map[string]time.Time // member → end of its cut
	conns map[*filteredConn]struct{}
}

func newFilter() *filter {
	return &filter{cut: map[string]time.Time{}, conns: map[*filteredConn]struct{}{}}
}

// blocked reports whether traffic to or from peer is cut now.
func (f *filter) blocked(peer string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blockedLocked(peer, time.Now())
}

func (f *filter) blockedLocked(peer string, now time.Time) bool {
	until, ok := f.cut[peer]
	return ok && now.Before(until)
}

// set cuts members until until and closes their open connections.
func (f *filter) set(members []string, until time.Time) {
	f.mu.Lock()
	for _, m := range members {
		f.cut[m] = until
	}
	var doomed []*filteredConn
	now := time.Now()
	for c := range f.conns {
		if f.blockedLocked(c.peer, now) {
			doomed = append(doomed, c)
		}
	}
	f.mu.Unlock()
	for _, c := range doomed {
		_ = c.Close()
	}
}

// heal ends every cut.
func (f *filter) heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cut = map[string]time.Time{}
}

// current lists the members cut now, sorted.
func (f *filter) current() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []string{}
	now := time.Now()
	for m := range f.cut {
		if f.blockedLocked(m, now) {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// track returns conn, to or from peer, as a connection the filter closes
// when peer is cut; ok is false (and conn closed) if peer is cut now.
func (f *filter) track(conn net.Conn, peer string) (net.Conn, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blockedLocked(peer, time.Now()) {
		_ = conn.Close()
		return nil, false
	}
	c := &filteredConn{Conn: conn, peer: peer, f: f}
	f.conns[c] = struct{}{}
	return c, true
}

// filteredConn is a consensus connection the filter knows of.
type filteredConn struct {
	net.Conn
	peer string
	f    *filter
	once sync.Once
}

// Close closes the connection and forgets it.
func (c *filteredConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.f.mu.Lock()
		delete(c.f.conns, c)
		c.f.mu.Unlock()
	})
	return err
}

// Cut cuts this member's consensus traffic to and from members for d (0:
// until Heal), as a network partition would: the connections open to them
// are closed, new ones refused both ways. For fault injection.
func (m *Raft) Cut(members []string, d time.Duration) {
	if d <= 0 {
		d = 100 * 365 * 24 * time.Hour
	}
	m.layer.filter.set(members, time.Now().Add(d))
	m.log.Warn("consensus traffic cut (fault injection)", zap.Strings("members", members), zap.Duration("for", d))
}

// Heal ends every cut made by Cut.
func (m *Raft) Heal() {
	m.layer.filter.heal()
	m.log.Info("consensus traffic healed")
}

// CutOff lists the members whose consensus traffic is cut now.
func (m *Raft) CutOff() []string { return m.layer.filter.current() }
