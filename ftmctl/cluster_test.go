package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// kvCounter drives one key of every bank's kv server through `ftmctl
// call` and counts the adds acknowledged and those that failed (a failed
// call may or may not have been applied).
type kvCounter struct {
	t        *testing.T
	bin, dir string
	acked    map[string]int
	failed   map[string]int
}

// add adds 1 to bank's key "c", retrying until a call is answered.
func (k *kvCounter) add(bank string) {
	k.t.Helper()
	eventually(k.t, "a durable kv add on bank "+bank+" answered", func() bool {
		out, err := ftmctl(k.t, k.bin, "call", "--dir", k.dir, "--timeout", "3s", bank+"/kv", "add", `{"Key":"c","By":1}`)
		if err != nil {
			k.failed[bank]++
			return false
		}
		k.acked[bank]++
		k.t.Logf("%s/kv add → %s", bank, strings.TrimSpace(out))
		return true
	})
}

// check reads every counter: it holds each acknowledged add once (plus at
// most the failed calls, which the server may have applied before the
// caller lost its answer).
func (k *kvCounter) check(banks []string) {
	k.t.Helper()
	for _, b := range banks {
		out, err := ftmctl(k.t, k.bin, "call", "--dir", k.dir, b+"/kv", "get", `"c"`)
		require.NoError(k.t, err, out)
		v, err := strconv.Atoi(strings.TrimSpace(out))
		require.NoError(k.t, err, out)
		require.GreaterOrEqual(k.t, v, k.acked[b], "bank %s lost an acknowledged update", b)
		require.LessOrEqual(k.t, v, k.acked[b]+k.failed[b], "bank %s applied an update twice", b)
	}
}

// groupOf is the group's state as the first answering node reports it.
func groupOf(t *testing.T, bin, dir string) (primary, backup map[string]string) {
	primary, backup = map[string]string{}, map[string]string{}
	for _, r := range statusRows(t, bin, dir) {
		if r.Status == nil || r.Status.Group == nil {
			continue
		}
		for name, b := range r.Status.Group.State.Banks {
			primary[name], backup[name] = b.Primary, b.Backup
		}
		return primary, backup
	}
	return primary, backup
}

// Reference: the cluster's re-protection and `cluster up` — three real node
// processes and two witnesses started by `ftmctl cluster up 3`; durable kv
// updates answered on every bank; `ftmctl crash` (SIGKILL) of n1: the
// updates of every bank are answered with nothing restarted and every
// bank is protected again on n2 and n3; SIGKILL of n2: n3 answers for
// every bank; each counter holds every acknowledged update once. Status
// shows the group (members, leader, leases, every bank's protection).
func TestClusterUpSurvivesTwoSIGKILLs(t *testing.T) {
	t.Parallel() // real processes in a directory of its own, on free ports; no CPU-bound workload
	if testing.Short() {
		t.Skip("real processes")
	}
	bin := buildFtmctl(t)
	dir := filepath.Join(t.TempDir(), "cluster")
	out, err := ftmctl(t, bin, "cluster", "up", "3", "--dir", dir, "--allow-faults")
	require.NoError(t, err, out)
	t.Cleanup(func() { _, _ = ftmctl(t, bin, "cluster", "down", "--dir", dir, "--grace", "1s") })
	t.Cleanup(func() { dumpLogsOnFailure(t, dir, "n1", "n2", "n3") })
	require.Contains(t, out, "witness2")
	banks := []string{"n1", "n2", "n3"}
	k := &kvCounter{t: t, bin: bin, dir: dir, acked: map[string]int{}, failed: map[string]int{}}
	for _, b := range banks {
		k.add(b)
	}
	out, err = ftmctl(t, bin, "partition", "--dir", dir, "--node", "n2", "--for", "300ms") // any member: shorter than the detector
	require.NoError(t, err, out)
	require.Contains(t, out, "n2")
	for _, b := range banks {
		k.add(b) // answered through the short partition, once its held frames flow again
	}
	live := map[string]bool{"n1": true, "n2": true, "n3": true}
	for _, victim := range []string{"n1", "n2"} {
		out, err := ftmctl(t, bin, "crash", "--dir", dir, victim)
		require.NoError(t, err, out)
		delete(live, victim)
		for _, b := range banks {
			k.add(b)
		}
		eventually(t, fmt.Sprintf("every bank held by a live node, protected on another after %s's kill", victim), func() bool {
			primary, backup := groupOf(t, bin, dir)
			for _, b := range banks {
				if !live[primary[b]] || (len(live) > 1 && !live[backup[b]]) {
					return false
				}
			}
			return true
		})
	}
	k.check(banks)
	primary, _ := groupOf(t, bin, dir)
	for _, b := range banks {
		require.Equal(t, "n3", primary[b], "the last node holds bank %s", b)
	}
	out, err = ftmctl(t, bin, "status", "--dir", dir)
	require.NoError(t, err, out)
	for _, want := range []string{"group: leader", "witnesses: witness witness2", "leases: n1 down", "BANK  PRIMARY  BACKUP  PROTECTION", "n1    n3"} {
		require.Contains(t, out, want)
	}
	js, err := ftmctl(t, bin, "status", "--dir", dir, "-o", "json")
	require.NoError(t, err, js)
	var rows []statusRow
	require.NoError(t, json.Unmarshal([]byte(js), &rows))
	require.NotNil(t, rows[2].Status.Group, "-o json carries the group")
	require.Len(t, rows[2].Status.Peers, 2, "-o json carries every peer link")
}
