package cluster

import (
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"
)

// The leader is a witness when one runs. A node's loss must not cost the
// group an election (raft's would put a second or so of no majority on
// the path of every takeover the loss calls for), and a witness holds no
// bank, so a node that finds itself leading hands leadership over to a
// witness (raft's leadership transfer) within preferPeriod, when the
// witness's port answers; after a transfer that failed (it holds the
// leader's proposals for up to an election timeout) it waits
// preferBackoff. When the witness itself is lost, a node leads until the
// witness is back.

// patience multiplies the default raft timeouts of a member that is not a
// witness in a group that has one: the witness, quicker to stand, wins the
// first election (and any held while it lives) in most runs.
func (c *RaftConfig) patience() time.Duration {
	witness, me := false, false
	for _, p := range c.Peers {
		witness = witness || p.Witness
		me = me || (p.Name == c.Name && p.Witness)
	}
	if witness && !me {
		return 2
	}
	return 1
}

// preferPeriod is how often a leading node checks that it should lead.
const preferPeriod = 250 * time.Millisecond

// leaderPreference is the loop that hands leadership to a witness.
type leaderPreference struct {
	stop chan struct{}
	done sync.WaitGroup
}

// witness returns the first witness among the peers, if this member is
// not one.
func (m *Raft) witness() (Peer, bool) {
	for _, p := range m.cfg.Peers {
		if p.Name == m.cfg.Name && p.Witness {
			return Peer{}, false
		}
	}
	for _, p := range m.cfg.Peers {
		if p.Witness {
			return p, true
		}
	}
	return Peer{}, false
}

// preferWitness starts the loop, on a member that is not a witness of a
// group that has one.
func (m *Raft) preferWitness() {
	w, ok := m.witness()
	if !ok {
		return
	}
	m.lead.stop = make(chan struct{})
	m.lead.done.Add(1)
	go func() {
		defer m.lead.done.Done()
		wait := preferPeriod
		for {
			select {
			case <-m.lead.stop:
				return
			case <-time.After(wait):
			}
			wait = preferPeriod
			if m.r.State() == raft.Leader && !m.handOver(w) {
				wait = preferBackoff
			}
		}
	}()
}

// preferBackoff is the pause after a failed hand-over: a transfer that
// fails holds the leader's proposals for up to an election timeout.
const preferBackoff = time.Second

// handOver transfers leadership to w, if w's consensus port answers (a
// witness that is down is not asked), and reports whether w took it.
func (m *Raft) handOver(w Peer) bool {
	c, err := net.DialTimeout("tcp", w.Addr, 100*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	if err := m.r.LeadershipTransferToServer(raft.ServerID(w.Name), raft.ServerAddress(w.Addr)).Error(); err != nil {
		m.log.Info("leadership stays here: the witness did not take it", zap.String("witness", w.Name), zap.Error(err))
		return false
	}
	m.log.Info("leadership handed to the witness", zap.String("witness", w.Name))
	return true
}

// stopPreferring ends the loop.
func (m *Raft) stopPreferring() {
	if m.lead.stop != nil {
		close(m.lead.stop)
		m.lead.done.Wait()
	}
}
