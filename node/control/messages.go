package control

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ftm-in-go/ftm/cluster"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/task"
)

// DefaultPolicy checkpoints a node's stable tasks at every power of two of
// their work (the paper's policy) and at least twice a second.
var DefaultPolicy = task.Policy{PowerOfTwo: true, Every: 500 * time.Millisecond}

// Status is what a node's control socket answers to GET /status.
type Status struct {
	pair.Status
	PID     int    `json:"pid"`
	Version string `json:"version"`
	// STM: the banks this node holds (own, taken over, partner's backup)
	// and its takeovers. A bank commits only while its backup is attached.
	STM *pair.StableStatus `json:"stm,omitempty"`
	// HeartbeatAge: time since a frame last came from the partner (its
	// heartbeats keep it under one period while the link is healthy); in a
	// cluster, the first peer's PeerStatus.HeartbeatAge (an echo's age).
	HeartbeatAge time.Duration `json:"heartbeat_age_ns,omitempty"`
	// Faults switched on by ftmctl partition or slow, and whether the pair
	// allows them.
	Faults      link.FaultState `json:"faults"`
	AllowFaults bool            `json:"allow_faults"`
	// MetricsAddr is where the node serves /metrics over HTTP, if it does.
	MetricsAddr string `json:"metrics_addr,omitempty"`
	// Group is the node's view of the group, when the pair runs one.
	Group *GroupStatus `json:"group,omitempty"`
	// Peers (a cluster of more than two nodes): the link to every other
	// node, each with its heartbeat's age; the embedded pair.Status and
	// HeartbeatAge above are the first peer's.
	Peers []PeerStatus `json:"peers,omitempty"`
	// ConsensusCut names the group's members whose consensus traffic to
	// and from this node is cut by ftmctl partition (empty: none).
	ConsensusCut []string `json:"consensus_cut,omitempty"`
}

// PeerStatus is one link of a cluster's node: to the peer Partner names.
type PeerStatus struct {
	pair.Status
	// HeartbeatAge: time since the peer last echoed a heartbeat of this
	// node (zero before the first echo); it keeps growing while the link
	// is down or cut.
	HeartbeatAge time.Duration `json:"heartbeat_age_ns,omitempty"`
}

// GroupStatus is a node's view of the group (package cluster): its
// leader, this node's lease, and the agreed members, banks and leases.
type GroupStatus struct {
	Leader string              `json:"leader"`
	Lease  cluster.LeaseStatus `json:"lease"`
	State  cluster.State       `json:"state"`
}

// RunRequest starts a registered program as a stable task (POST /run).
type RunRequest struct {
	Program string   `json:"program"`
	Args    []string `json:"args"`
}

// FaultRequest switches a fault on or off on one node (POST /fault).
type FaultRequest struct {
	Kind  string        `json:"kind"` // "partition", "slow" or "heal"
	Delay time.Duration `json:"delay_ns,omitempty"`
	For   time.Duration `json:"for_ns,omitempty"` // 0: until healed
	// Members (partition) are the group's members whose consensus traffic
	// to and from this node is cut too (default: the partner); ignored
	// when the pair runs no group.
	Members []string `json:"members,omitempty"`
}

// FaultReply is a node's fault switch after POST /fault: the pair link's
// faults and the group's members whose consensus traffic is cut.
type FaultReply struct {
	link.FaultState
	ConsensusCut []string `json:"consensus_cut,omitempty"`
}

// KernelTask is one kernel task and the names in its port name space
// (GET /ports).
type KernelTask struct {
	ID    uint64     `json:"id"`
	Name  string     `json:"name"`
	Names []PortName `json:"names"`
	Error string     `json:"error,omitempty"`
}

// PortName is kernel.NameInfo for operators.
type PortName struct {
	Name     uint64 `json:"name"`
	Type     string `json:"type"`
	Receive  bool   `json:"receive"`
	SendRefs uint32 `json:"send_refs"`
	SendOnce bool   `json:"send_once"`
	DeadRefs uint32 `json:"dead_refs"`
	Members  int    `json:"members,omitempty"`
}

// RUHost is one bank's driver as GET /ru answers it.
type RUHost struct {
	Bank    string    `json:"bank"`
	Running bool      `json:"running"`
	Waiting string    `json:"waiting,omitempty"` // why its servers do not run
	Since   time.Time `json:"since,omitzero"`
	servers.DriverStatus
}

// RUNode is a node's answer to GET /ru.
type RUNode struct {
	Node  string   `json:"node"`
	Hosts []RUHost `json:"hosts"`
	Off   string   `json:"off,omitempty"`   // why the node runs no reliable servers at all
	Error string   `json:"error,omitempty"` // set by ftmctl for a node that did not answer
}

// CallRequest calls one operation of a registered reliable server
// (POST /call), its argument and result in JSON.
type CallRequest struct {
	Server string          `json:"server"`         // the unit called: BANK/NAME
	Op     string          `json:"op"`             // the operation's name (servers.Method.Name)
	Arg    json.RawMessage `json:"arg"`            // the request, as JSON
	From   string          `json:"from,omitempty"` // call from BANK/app (an RU) instead of an external client
	// ID: the caller numbers its requests itself (an external client in
	// another process, package client): a retry of the same ID, through
	// either node, is answered from the server's duplicate table. Empty:
	// the node numbers the request.
	ID *RequestID `json:"id,omitempty"`
}

// RequestID is an external call's identity in the servers' duplicate
// tables (servers.RequestID): the client's stable id, the request's
// number, the same on every retry, and the number below which every
// request of the client was answered.
type RequestID struct {
	Client string `json:"client"`
	Seq    uint64 `json:"seq"`
	Low    uint64 `json:"low,omitempty"`
}

// ErrorCodeHeader, on the answer to a call the server's handler refused
// (404 Not Found, body "BANK/NAME.OP: message"), is the code of the
// declared error the handler's error matched (servers.Method.RemoteError);
// absent when none did.
const ErrorCodeHeader = "Ftm-Error-Code"

// CallReply is the answer to a call.
type CallReply struct {
	Node   string          `json:"node"`   // the node that made the call
	Server string          `json:"server"` // BANK/NAME
	Op     string          `json:"op"`
	Result json.RawMessage `json:"result"`
	// Caller is the RU the call was made in ("" for an external client,
	// whose update is answered only once the server's RU committed).
	Caller string `json:"caller,omitempty"`
	// Durable: what the call returned is committed (an external client's
	// call: the server answers it only once its RU committed, if the call
	// updated, or read an update, of that RU).
	Durable bool `json:"durable"`
}

// RUCkptRequest asks for a checkpoint of one recovery unit (POST /ru/ckpt).
type RUCkptRequest struct {
	Unit    string        `json:"unit"` // BANK/NAME or BANK/app
	Timeout time.Duration `json:"timeout_ns"`
}

// RUCkptReply is how it went.
type RUCkptReply struct {
	Node   string        `json:"node"`
	Unit   string        `json:"unit"`
	RU     string        `json:"ru"`      // the RU that was checkpointed
	NextRU string        `json:"next_ru"` // the unit's RU now
	Took   time.Duration `json:"took_ns"`
	Msgs   int64         `json:"msgs"` // protocol messages this node's driver sent meanwhile
	// Members: the RUs committed with it as this node knew them (CkptEntry.Members).
	Members []string `json:"members"`
	Seq     uint64   `json:"seq,omitempty"` // its entry in the node's ckpt log
}

// CkptNowRequest asks for the next checkpoint of one running task
// (POST /ckpt).
type CkptNowRequest struct {
	Bank    string        `json:"bank"`
	Task    uint64        `json:"task"`
	Timeout time.Duration `json:"timeout_ns"`
}

// CkptNowReply is the checkpoint that answered, and how long after the
// request it came.
type CkptNowReply struct {
	CkptEntry
	Waited time.Duration `json:"waited_ns"`
}

// CkptWait is how long a checkpoint asked for on the control socket may
// take: d, or 5s when d is unset or over a minute.
func CkptWait(d time.Duration) time.Duration {
	if d <= 0 || d > time.Minute {
		return 5 * time.Second
	}
	return d
}

// MetricFamily is a gathered metric family (GET /metrics.json).
type MetricFamily struct {
	Name    string         `json:"name"`
	Type    string         `json:"type"`
	Help    string         `json:"help"`
	Samples []MetricSample `json:"samples"`
}

// MetricSample is one sample of a family.
type MetricSample struct {
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value"`
	// Histograms: the count and sum, and the cumulative bucket counts by
	// upper bound.
	Count   uint64             `json:"count,omitempty"`
	Buckets map[string]float64 `json:"buckets,omitempty"`
}

// CkptEntry is one checkpoint (or a few, see Count) of a stable task.
type CkptEntry struct {
	Seq  uint64    `json:"seq"`  // per node, from 1
	Time time.Time `json:"time"` // when the node saw it
	Node string    `json:"node"`
	Bank string    `json:"bank"`
	Task uint64    `json:"task"`
	// Program and its run: Run is the task's restarts count (0: first run).
	Program string `json:"program"`
	Run     int    `json:"run"`
	// Initiator is who asked: the task's checkpoint policy at one of its
	// safe points. (A checkpoint forced by ftmctl ckpt now is Awaited.)
	Initiator string `json:"initiator"`
	// Awaited: an operator's `ftmctl ckpt now` asked for it (the first
	// checkpoint after the request: the forced one, unless the policy's
	// came first).
	Awaited bool `json:"awaited,omitempty"`
	// Count is the number of checkpoints in this entry; Number the task's
	// checkpoint count in this run once they were taken.
	Count    int           `json:"count"`
	Number   int           `json:"number"`
	Pages    int           `json:"pages"`
	Bytes    int64         `json:"bytes"`
	Duration time.Duration `json:"duration_ns"` // the task was stopped this long
	Progress int64         `json:"progress"`    // work done at the checkpoint (the task's Progress)
	// A checkpoint of recovery units (ftmctl ckpt now RU) instead of a
	// task: Unit is the initiating unit, Number the RU it committed,
	// Duration the protocol's time from start to commit, Msgs the protocol
	// messages this node's driver sent meanwhile, Members the RUs
	// committed with it as this node knew them (the initiator and its
	// predecessors, transitively; another node's units' own predecessors
	// are not known here).
	Unit    string   `json:"unit,omitempty"`
	Msgs    int64    `json:"msgs,omitempty"`
	Members []string `json:"members,omitempty"`
}

// TaskKey names a stable task as BANK/ID, the way the node's checkpoint
// log and ftmctl name it.
func TaskKey(bank string, id uint64) string { return fmt.Sprintf("%s/%d", bank, id) }

// ControlTask is the node's own kernel task: it holds the receive right
// of the port registered as ftmctl/NODE, so the partner can look the node
// up through netmsg.
const ControlTask = "ftmctl-control"
