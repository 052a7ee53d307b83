package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/node/control"
	"github.com/ftm-in-go/ftm/pair"
)

// clusterSample is a cluster of three after n3's link to n1 broke: n1
// holds n2's backup and has taken n3's bank over; n2's consensus traffic
// to the witness is cut; n4 does not run.
func clusterSample() []statusRow {
	peer := func(name, partner string, linked bool, epoch uint64, lost int, hb time.Duration) control.PeerStatus {
		return control.PeerStatus{Status: pair.Status{Name: name, Partner: partner, Linked: linked, Epoch: epoch, LostCount: lost}, HeartbeatAge: hb}
	}
	n1 := &nodeStatus{Status: pair.Status{Name: "n1", Partner: "n2", Linked: true, Epoch: 1}, HeartbeatAge: 3 * time.Millisecond,
		Peers: []control.PeerStatus{peer("n1", "n2", true, 1, 0, 3*time.Millisecond), peer("n1", "n3", true, 2, 1, 41*time.Millisecond)},
		STM: &pair.StableStatus{Takeovers: 1, Banks: []pair.BankStatus{
			{Name: "n1", Role: pair.RoleOwn, Mirror: pair.MirrorAttached},
			{Name: "n2", Role: pair.RoleBackup, Ready: true},
			{Name: "n3", Role: pair.RoleTakenOver, Objects: 7, Seq: 9, Mirror: pair.MirrorNone}}}}
	n2 := &nodeStatus{Status: pair.Status{Name: "n2", Partner: "n1", Linked: true, Epoch: 1}, ConsensusCut: []string{"witness"},
		Peers: []control.PeerStatus{peer("n2", "n1", true, 1, 0, 5*time.Millisecond), peer("n2", "n3", false, 1, 1, 0)}}
	n3 := &nodeStatus{Status: pair.Status{Name: "n3", Partner: "n1", Linked: true, Epoch: 2},
		Peers: []control.PeerStatus{peer("n3", "n1", true, 2, 1, 2*time.Millisecond), peer("n3", "n2", false, 1, 1, 0)}}
	return []statusRow{{Node: "n1", Running: true, Status: n1}, {Node: "n2", Running: true, Status: n2},
		{Node: "n3", Running: true, Status: n3}, {Node: "n4", PID: 9, Error: "not running"}}
}

// A cluster's status says what holds for every peer, not the first
// one's: its links up of all, the oldest heartbeat of a linked peer, every
// other node's bank it holds; -o wide adds every link; a link down between
// two running nodes is a note; a consensus cut by ftmctl partition is a
// fault line; -o json carries each peer with its heartbeat's age.
func TestClusterStatusIsPerPeer(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, printStatus(&out, "table", clusterSample()))
	s := out.String()
	require.Regexp(t, `NODE\s+STATE\s+LINKS\s+HB AGE\s+BACKED UP\s+PEER BANKS\s+TAKEOVERS\n`, s)
	require.NotContains(t, s, "PARTNER BANK")
	require.Regexp(t, `n1\s+running\s+2/2 up\s+41ms\s+yes \(attached\)\s+n2 backup, n3 taken\s+1\n`, s)
	require.Regexp(t, `n2\s+running\s+1/2 up\s+5ms\s`, s)
	require.Regexp(t, `n4\s+not running\s+-`, s)
	require.Contains(t, s, "note: n2's link to n3 is down (both run)\n")
	require.Contains(t, s, "note: n3's link to n2 is down (both run)\n")
	require.Contains(t, s, "fault: n2's consensus traffic to and from witness is cut (ftmctl heal ends it)\n")

	out.Reset()
	require.NoError(t, printStatus(&out, "wide", clusterSample()))
	s = out.String()
	require.Regexp(t, `n1\s+0\s+running\s+n2,n3\s+2/2 up\s+1\s`, s, "PEERS, LINKS, and LOST summed over the links")
	require.Contains(t, s, "n3 taken over: 7 objs, seq 9, backup none")
	require.Regexp(t, `LINK\s+STATE\s+EPOCH\s+LOST\s+HB AGE\s+LAST CAUSE\n`, s)
	require.Regexp(t, `n1 → n3\s+up\s+2\s+1\s+41ms\s+-\n`, s)
	require.Regexp(t, `n2 → n3\s+down\s+1\s+1\s+-\s+-\n`, s)

	out.Reset()
	require.NoError(t, printStatus(&out, "json", clusterSample()))
	var rows []map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &rows))
	st := rows[0]["status"].(map[string]any)
	peers := st["peers"].([]any)
	require.Len(t, peers, 2)
	require.Equal(t, "n3", peers[1].(map[string]any)["partner"])
	require.EqualValues(t, 41*time.Millisecond, peers[1].(map[string]any)["heartbeat_age_ns"])
	require.Equal(t, []any{"witness"}, rows[1]["status"].(map[string]any)["consensus_cut"])
}

// A pair's status shows a consensus cut made by ftmctl partition, as
// partition and heal -o json do.
func TestPairStatusShowsAConsensusCut(t *testing.T) {
	rows := statusSample()
	rows[0].Status.ConsensusCut = []string{"beta-node", "witness"}
	var out bytes.Buffer
	require.NoError(t, printStatus(&out, "table", rows))
	require.Contains(t, out.String(), "fault: alpha-node's consensus traffic to and from beta-node, witness is cut (ftmctl heal ends it)\n")
	require.Contains(t, out.String(), "PARTNER BANK", "a pair keeps its columns")
}

// A cluster's partition cuts the node's consensus traffic to every other
// node, as it cuts its links to all of them; a pair's leaves the members
// to the node (its partner), and --isolate's members stay as named.
func TestClusterPartitionCutsConsensusToEveryPeer(t *testing.T) {
	cl := &pairState{Nodes: []nodeState{{Name: "n1"}, {Name: "n2"}, {Name: "n3"}}}
	require.Equal(t, []string{"n1", "n3"}, consensusCut(cl, "n2", faultRequest{Kind: "partition"}).Members)
	require.Nil(t, consensusCut(cl, "n2", faultRequest{Kind: "heal"}).Members)
	require.Equal(t, []string{"witness"}, consensusCut(cl, "n2", faultRequest{Kind: "partition", Members: []string{"witness"}}).Members)
	pr := &pairState{Nodes: []nodeState{{Name: "alpha"}, {Name: "beta"}}}
	require.Nil(t, consensusCut(pr, "alpha", faultRequest{Kind: "partition"}).Members)
}
