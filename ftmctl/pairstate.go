package main

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
)

// defaultDir is where a pair keeps its state and logs unless --dir says
// otherwise; FTM_DIR overrides it for every command.
func defaultDir() string {
	if d := os.Getenv("FTM_DIR"); d != "" {
		return d
	}
	return ".ftm"
}

// pairState is DIR/pair.json: what `pair up` started and how to reach it.
type pairState struct {
	Nodes       []nodeState `json:"nodes"`
	AllowFaults bool        `json:"allow_faults"`
	Heartbeat   string      `json:"heartbeat"`
	Created     time.Time   `json:"created"`
}

// nodeState is one node of the pair.
type nodeState struct {
	Name string `json:"name"`
	Addr string `json:"addr"` // link address on 127.0.0.1
	PID  int    `json:"pid"`
	Log  string `json:"log"`
	// MetricsAddr is the --metrics-addr the node was started with.
	MetricsAddr string `json:"metrics_addr,omitempty"`
}

const (
	stateFile  = "pair.json"
	secretFile = "secret"
)

var errNoPair = errors.New("no pair is running there (start one with `ftmctl pair up`)")

func loadPair(dir string) (*pairState, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, errNoPair)
	}
	if err != nil {
		return nil, err
	}
	var st pairState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %w", filepath.Join(dir, stateFile), err)
	}
	return &st, nil
}

func savePair(dir string, st *pairState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, stateFile))
}

func (st *pairState) node(name string) (*nodeState, error) {
	for i := range st.Nodes {
		if st.Nodes[i].Name == name {
			return &st.Nodes[i], nil
		}
	}
	names := make([]string, len(st.Nodes))
	for i, n := range st.Nodes {
		names[i] = n.Name
	}
	return nil, fmt.Errorf("unknown node %q (the pair has %v)", name, names)
}

// partner returns the other node of the pair.
func (st *pairState) partner(name string) (*nodeState, error) {
	for i := range st.Nodes {
		if st.Nodes[i].Name != name {
			return &st.Nodes[i], nil
		}
	}
	return nil, fmt.Errorf("node %q has no partner", name)
}

// readOrCreateSecret returns the pair's shared link secret, creating a
// random one (mode 0600) the first time.
func readOrCreateSecret(dir string) ([]byte, error) {
	p := filepath.Join(dir, secretFile)
	b, err := os.ReadFile(p)
	if err == nil {
		return hex.DecodeString(string(b))
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

// alive reports whether pid names a running process; a zombie (dead, not yet
// reaped by its new parent) counts as dead.
func alive(pid int) bool {
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
