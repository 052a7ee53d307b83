package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.uber.org/zap"
)

// Peer is one voter as RaftConfig lists it.
type Peer struct {
	Name string
	Addr string // its consensus address (host:port)
	// Witness: a voter that holds no bank, preferred as the leader
	// (leader.go).
	Witness bool
}

// RaftConfig configures a member of the group run by hashicorp/raft.
type RaftConfig struct {
	Name string
	// Listener is this member's consensus port (its address is Name's in
	// Peers); the member owns it from then on.
	Listener net.Listener
	// Dir holds the raft log and stable store (raft-boltdb) and snapshots;
	// a member restarted on the same Dir rejoins with its log.
	Dir    string
	Peers  []Peer // every voter, this one included: the group's first configuration
	Secret []byte // authenticates every consensus connection
	// Timing (defaults for loopback: heartbeat and election 300 ms, leader
	// lease 150 ms, commit 10 ms).
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
	Logger                                                *zap.Logger
}

func (c *RaftConfig) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.Name)
	rc.HeartbeatTimeout = orDefault(c.HeartbeatTimeout, 300*time.Millisecond*c.patience())
	rc.ElectionTimeout = orDefault(c.ElectionTimeout, 300*time.Millisecond*c.patience())
	rc.LeaderLeaseTimeout = orDefault(c.LeaderLeaseTimeout, 150*time.Millisecond)
	rc.CommitTimeout = 10 * time.Millisecond
	rc.SnapshotThreshold = 4096
	rc.TrailingLogs = 1024
	rc.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: zapWriter{c.Logger}})
	return rc
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// zapWriter hands raft's log lines to zap.
type zapWriter struct{ log *zap.Logger }

func (w zapWriter) Write(p []byte) (int, error) {
	w.log.Info("raft", zap.ByteString("line", p))
	return len(p), nil
}

// Raft is a member of the group, on hashicorp/raft with raft-boltdb.
type Raft struct {
	cfg   RaftConfig
	log   *zap.Logger
	r     *raft.Raft
	fsm   *fsm
	layer *streamLayer
	store *raftboltdb.BoltStore
	lead  leaderPreference // leader.go
}

var _ Consensus = (*Raft)(nil)

// NewRaft starts a member: it opens its log in Dir, bootstraps the group
// from Peers if the log is empty, and serves its consensus port.
func NewRaft(cfg RaftConfig) (*Raft, error) {
	if cfg.Name == "" || cfg.Listener == nil || cfg.Dir == "" || len(cfg.Secret) == 0 {
		return nil, fmt.Errorf("%w: a raft member needs a name, a listener, a directory and a secret", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	m := &Raft{cfg: cfg, log: cfg.Logger.With(zap.String("member", cfg.Name)), fsm: &fsm{state: NewState()}}
	m.layer = newStreamLayer(&m.cfg, m.log)
	if err := m.start(); err != nil {
		_ = m.layer.Close()
		return nil, err
	}
	serve := m.serveForward
	m.layer.forward.Store(&serve)
	m.preferWitness() // leader.go
	return m, nil
}

// start opens the stores and starts raft.
func (m *Raft) start() error {
	store, err := raftboltdb.NewBoltStore(filepath.Join(m.cfg.Dir, "raft.db"))
	if err != nil {
		return fmt.Errorf("raft store: %w", err)
	}
	m.store = store
	snaps, err := raft.NewFileSnapshotStoreWithLogger(m.cfg.Dir, 2, hclog.NewNullLogger())
	if err != nil {
		return fmt.Errorf("raft snapshots: %w", err)
	}
	trans := raft.NewNetworkTransportWithLogger(m.layer, 3, 2*time.Second, hclog.NewNullLogger())
	rc := m.cfg.raftConfig()
	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return err
	}
	if m.r, err = raft.NewRaft(rc, m.fsm, store, store, snaps, trans); err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	if existing {
		return nil
	}
	conf := raft.Configuration{}
	for _, p := range m.cfg.Peers {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.Name), Address: raft.ServerAddress(p.Addr)})
	}
	if err := m.r.BootstrapCluster(conf).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("bootstrap the group: %w", err)
	}
	return nil
}

// Close stops the member.
func (m *Raft) Close() error {
	m.stopPreferring()
	err := m.r.Shutdown().Error()
	_ = m.layer.Close()
	if m.store != nil {
		_ = m.store.Close()
	}
	return err
}

// State returns this member's applied state.
func (m *Raft) State() State { return m.fsm.snapshot() }

// Leader names the leader this member knows of.
func (m *Raft) Leader() string {
	_, id := m.r.LeaderWithID()
	return string(id)
}

// Propose commits c through the leader (this member, or the one it
// forwards to), retrying while there is none, until ctx ends. A retry
// after an attempt that timed out or lost its reply but was applied all
// the same is answered with that attempt's result (Command.ID).
func (m *Raft) Propose(ctx context.Context, c Command) (Result, error) {
	if c.ID == 0 {
		c.ID = rand.Uint64() | 1 // one ID across the retries below: applied once
	}
	data, err := encodeCommand(c)
	if err != nil {
		return Result{}, err
	}
	for {
		res, err := m.proposeOnce(ctx, data)
		if err == nil || !errors.Is(err, ErrNoQuorum) {
			return res, err
		}
		select {
		case <-ctx.Done():
			return Result{}, fmt.Errorf("%w: %w", err, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (m *Raft) proposeOnce(ctx context.Context, data []byte) (Result, error) {
	if m.r.State() == raft.Leader {
		return m.applyLocal(ctx, data)
	}
	addr, id := m.r.LeaderWithID()
	if addr == "" {
		return Result{}, fmt.Errorf("%w: no leader known", ErrNoQuorum)
	}
	return m.forwardTo(ctx, string(addr), string(id), data)
}

// applyLocal applies data as the leader.
func (m *Raft) applyLocal(ctx context.Context, data []byte) (Result, error) {
	timeout := time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Millisecond)
	}
	f := m.r.Apply(data, timeout)
	if err := f.Error(); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrNoQuorum, err)
	}
	res, ok := f.Response().(Result)
	if !ok {
		return Result{}, fmt.Errorf("%w: apply answered %T", ErrCorrupt, f.Response())
	}
	return res, nil
}

// forwardReply is the leader's answer to a forwarded proposal.
type forwardReply struct {
	Result Result `json:"result"`
	Err    string `json:"err,omitempty"`
}

// forwardTo sends a proposal to the leader at addr and waits for its reply.
func (m *Raft) forwardTo(ctx context.Context, addr, leader string, data []byte) (Result, error) {
	conn, err := m.layer.dial(addr, kindForward, time.Second)
	if err != nil {
		return Result{}, fmt.Errorf("%w: forward to %s: %w", ErrNoQuorum, leader, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	if err := json.NewEncoder(conn).Encode(json.RawMessage(data)); err != nil {
		return Result{}, fmt.Errorf("%w: forward to %s: %w", ErrNoQuorum, leader, err)
	}
	var rep forwardReply
	if err := json.NewDecoder(conn).Decode(&rep); err != nil {
		return Result{}, fmt.Errorf("%w: reply from %s: %w", ErrNoQuorum, leader, err)
	}
	if rep.Err != "" {
		return Result{}, fmt.Errorf("%w: leader %s: %s", ErrNoQuorum, leader, rep.Err)
	}
	return rep.Result, nil
}

// serveForward applies one forwarded proposal if this member leads.
func (m *Raft) serveForward(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var data json.RawMessage
	if err := json.NewDecoder(conn).Decode(&data); err != nil {
		return
	}
	var rep forwardReply
	if m.r.State() != raft.Leader {
		rep.Err = "not the leader"
	} else if res, err := m.applyLocal(context.Background(), data); err != nil {
		rep.Err = err.Error()
	} else {
		rep.Result = res
	}
	_ = json.NewEncoder(conn).Encode(rep)
}

// fsm is raft's state machine: the State, under a lock.
type fsm struct {
	mu    sync.Mutex
	state State
}

var _ raft.FSM = (*fsm)(nil)

func (f *fsm) Apply(l *raft.Log) any {
	c, err := decodeCommand(l.Data)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.state.Applied++
		return Result{Reason: err.Error()}
	}
	return f.state.Apply(c)
}

func (f *fsm) snapshot() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state.Clone()
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	b, err := json.Marshal(f.snapshot())
	return fsmSnapshot(b), err
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s := NewState()
	if err := json.NewDecoder(rc).Decode(&s); err != nil {
		return fmt.Errorf("%w: snapshot: %w", ErrCorrupt, err)
	}
	s = s.Clone()
	f.mu.Lock()
	f.state = s
	f.mu.Unlock()
	return nil
}

type fsmSnapshot []byte

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (fsmSnapshot) Release() {}
