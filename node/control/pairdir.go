package control

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ftm-in-go/ftm/cluster"
)

// PairState is DIR/pair.json: what `pair up` started and how to reach it.
type PairState struct {
	Nodes       []NodeState `json:"nodes"`
	AllowFaults bool        `json:"allow_faults"`
	Heartbeat   string      `json:"heartbeat"`
	Created     time.Time   `json:"created"`
	// Exec is the node binary the pair's nodes run ("" before it was
	// stored: the default node binary next to ftmctl).
	Exec string `json:"exec,omitempty"`
	// Witness is the group's third voter, a process of the node binary
	// run with --witness that holds no bank (nil: the pair runs without a
	// group, and a bank with no backup refuses commits).
	Witness *NodeState `json:"witness,omitempty"`
	// Witnesses are a cluster's further witnesses (`ftmctl cluster up`
	// starts one fewer witness than nodes, so that one node with every
	// witness is a majority).
	Witnesses []NodeState `json:"witnesses,omitempty"`
}

// NodeState is one node of the pair.
type NodeState struct {
	Name string `json:"name"`
	Addr string `json:"addr"` // link address (host:port; 127.0.0.1 unless pair up --addrs)
	PID  int    `json:"pid"`
	// Start is the process's start time (Linux: /proc/PID/stat field 22,
	// clock ticks since boot) read when ftmctl started it; 0: not recorded.
	// A live PID with another start time is a reused PID, not the node.
	Start uint64 `json:"start,omitempty"`
	Log   string `json:"log"`
	// MetricsAddr is the --metrics-addr the node was started with.
	MetricsAddr string `json:"metrics_addr,omitempty"`
	// WebConfigFile is the --web-config-file (TLS, basic auth) the node
	// was started with.
	WebConfigFile string `json:"web_config_file,omitempty"`
	// Consensus is its address in the group (package cluster): raft and
	// the proposals forwarded to the leader ("": no group).
	Consensus string `json:"consensus,omitempty"`
}

// The files of a pair's directory.
const (
	StateFile  = "pair.json"
	SecretFile = "secret"
)

// ErrNoPair: the directory holds no pair.json.
var ErrNoPair = errors.New("no pair is running there (start one with `ftmctl pair up`)")

// ErrNotDir: the pair's directory is a file.
var ErrNotDir = errors.New("not a directory (--dir names the directory a pair keeps its state and logs in)")

// LoadPair reads DIR/pair.json.
func LoadPair(dir string) (*PairState, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("%s: %w", dir, ErrNoPair)
	case errors.Is(err, syscall.ENOTDIR):
		return nil, fmt.Errorf("%s: %w", dir, ErrNotDir)
	case err != nil:
		return nil, err
	}
	var st PairState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s is corrupt (its nodes may still run: `ftmctl pair down --force --dir %s` stops them and moves it aside): %w",
			filepath.Join(dir, StateFile), dir, err)
	}
	return &st, nil
}

// SavePair writes DIR/pair.json whole (a temporary file, then a rename).
func SavePair(dir string, st *PairState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, StateFile))
}

// Node returns the node called name, or an error listing the pair's nodes.
func (st *PairState) Node(name string) (*NodeState, error) {
	for i := range st.Nodes {
		if st.Nodes[i].Name == name {
			return &st.Nodes[i], nil
		}
	}
	names := make([]string, len(st.Nodes))
	for i, n := range st.Nodes {
		names[i] = n.Name
	}
	return nil, fmt.Errorf("unknown node %q (the %s has %v)", name, map[bool]string{false: "pair", true: "cluster"}[len(names) > 2], names)
}

// Voters lists the group's voters, the nodes and the witness, with their
// consensus addresses; nil when the pair runs no group.
func (st *PairState) Voters() []cluster.Peer {
	if st.Witness == nil || st.Witness.Consensus == "" {
		return nil
	}
	var out []cluster.Peer
	for _, n := range append(append(append([]NodeState(nil), st.Nodes...), *st.Witness), st.Witnesses...) {
		if n.Consensus == "" {
			return nil
		}
		out = append(out, cluster.Peer{Name: n.Name, Addr: n.Consensus})
	}
	out[len(out)-1].Witness = true
	return out
}

// Partner returns the other node of the pair.
func (st *PairState) Partner(name string) (*NodeState, error) {
	for i := range st.Nodes {
		if st.Nodes[i].Name != name {
			return &st.Nodes[i], nil
		}
	}
	return nil, fmt.Errorf("node %q has no partner", name)
}

// ReadOrCreateSecret returns the pair's shared link secret, creating a
// random one (mode 0600) the first time.
func ReadOrCreateSecret(dir string) ([]byte, error) {
	p := filepath.Join(dir, SecretFile)
	b, err := os.ReadFile(p)
	if err == nil {
		return DecodeSecret(p, b)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	return secret, os.WriteFile(p, []byte(hex.EncodeToString(secret)), 0o600)
}

// Alive reports whether pid names a running process; a zombie (dead, not yet
// reaped by its new parent) counts as dead.
func Alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc: trust kill(0)
	}
	// The state is the field after the parenthesised command name.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}
