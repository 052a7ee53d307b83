package main

import (
	"os"

	"github.com/ftm-in-go/ftm/node/control"
)

// The messages of a node's control socket and the pair's directory, as
// package control defines them for both sides, under the names ftmctl's
// commands use.
type (
	nodeStatus     = control.Status
	ruNode         = control.RUNode
	ruHost         = control.RUHost
	ckptEntry      = control.CkptEntry
	ckptNowRequest = control.CkptNowRequest
	ckptNowReply   = control.CkptNowReply
	ruCkptRequest  = control.RUCkptRequest
	ruCkptReply    = control.RUCkptReply
	runRequest     = control.RunRequest
	faultRequest   = control.FaultRequest
	kernelTask     = control.KernelTask
	portName       = control.PortName
	metricFamily   = control.MetricFamily
	pairState      = control.PairState
	nodeState      = control.NodeState
)

const (
	authHeader = control.AuthHeader
	authScheme = control.AuthScheme
)

var (
	errAuth   = control.ErrAuth
	errNoPair = control.ErrNoPair
	errNotDir = control.ErrNotDir
	// taskPolicy is the node's checkpoint policy (watch shows a task's
	// time since its last checkpoint against it).
	taskPolicy = control.DefaultPolicy
)

func loadPair(dir string) (*pairState, error)        { return control.LoadPair(dir) }
func savePair(dir string, st *pairState) error       { return control.SavePair(dir, st) }
func readOrCreateSecret(dir string) ([]byte, error)  { return control.ReadOrCreateSecret(dir) }
func readSecret(dir string) ([]byte, error)          { return control.ReadSecret(dir) }
func controlToken(secret []byte, node string) []byte { return control.Token(secret, node) }
func alive(pid int) bool                             { return control.Alive(pid) }
func checkLoopback(addr string) error                { return control.CheckLoopback(addr) }

// defaultDir is where a pair keeps its state and logs unless --dir says
// otherwise; FTM_DIR overrides it for every command.
func defaultDir() string {
	if d := os.Getenv("FTM_DIR"); d != "" {
		return d
	}
	return ".ftm"
}
func taskKey(bank string, id uint64) string { return control.TaskKey(bank, id) }
