package main

import (
	"encoding/json"
	"math/rand"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/task"
)

func psRows(t *testing.T, bin, dir string) []task.Record {
	t.Helper()
	out, err := exec.Command(bin, "ps", "--dir", dir, "-o", "json").Output() // stdout only: a dying node is reported on stderr
	require.NoError(t, err, string(out))
	var recs []task.Record
	require.NoError(t, json.Unmarshal(out, &recs), string(out))
	return recs
}

// Reference: §2.2 and §6.2, with real processes — the sieve runs as a stable
// task on node n1, n1 is killed with SIGKILL part-way, n2 takes over its
// bank, restarts the task from its last checkpoint, and prints the right
// prime.
func TestSieveSurvivesSIGKILLOfItsNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin, dir, _ := startPair(t)
	eventually(t, "both nodes are linked and backed up", func() bool {
		out, err := ftmctl(t, bin, "run", "primes", "800000", "--dir", dir)
		return err == nil && strings.Contains(out, "started on node n1")
	})
	eventually(t, "the task checkpointed", func() bool {
		recs := psRows(t, bin, dir)
		return len(recs) == 1 && recs[0].Stats.Checkpoints >= 1
	})
	pause := time.Duration(rand.Int63n(int64(300 * time.Millisecond))) // a random moment of the run
	t.Logf("killing n1 %v after its first checkpoint", pause)
	time.Sleep(pause)
	out, err := ftmctl(t, bin, "crash", "n1", "--dir", dir)
	require.NoError(t, err, out)
	var rec task.Record
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if recs := psRows(t, bin, dir); len(recs) == 1 && recs[0].Node == "n2" && recs[0].State != task.StateRunning {
			rec = recs[0]
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, task.StateDone, rec.State, "%+v", rec)
	require.Equal(t, "prime 800000 is 12195257", rec.Result)
	require.Equal(t, 1, rec.Restarts)
	require.True(t, rec.Stats.Restored, "restarted from a checkpoint, not from scratch")
	require.Equal(t, "n1", rec.Bank)

	out, err = ftmctl(t, bin, "stm", "--dir", dir, "-o", "json")
	require.NoError(t, err, out)
	var banks []stmRow
	require.NoError(t, json.Unmarshal([]byte(out), &banks), out)
	require.Contains(t, banks, stmRow{Node: "n2", BankStatus: bankOf(banks, "n2", "n1")})
	require.Equal(t, "taken-over", bankOf(banks, "n2", "n1").Role, "n2 holds n1's bank as primary")

	_, err = ftmctl(t, bin, "run", "nosuch", "--dir", dir, "--node", "n2")
	require.ErrorContains(t, err, "exit status 1")
}

func bankOf(rows []stmRow, node, bank string) pair.BankStatus {
	for _, r := range rows {
		if r.Node == node && r.Name == bank {
			return r.BankStatus
		}
	}
	return pair.BankStatus{}
}

// Reference: §4.3, with real processes — a stable task's result outlives
// its node: primes finishes on n1, n1 is killed with SIGKILL, and `ps`
// shows the task done, with its result, on n2, which took n1's bank over
// and did not run the task again.
func TestResultSurvivesSIGKILLOfItsNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	// No witness: while n1 is down, n2's banks refuse commits (with the
	// witness n2 would commit them alone under its lease).
	bin, dir, _ := startPair(t, "--no-witness")
	eventually(t, "both nodes are linked and backed up", func() bool {
		out, err := ftmctl(t, bin, "run", "primes", "2000", "--dir", dir)
		return err == nil && strings.Contains(out, "started on node n1")
	})
	eventually(t, "the task is done on n1", func() bool {
		recs := psRows(t, bin, dir)
		return len(recs) == 1 && recs[0].State == task.StateDone
	})
	out, err := ftmctl(t, bin, "crash", "n1", "--dir", dir)
	require.NoError(t, err, out)
	var recs []task.Record
	eventually(t, "n2 lists n1's task", func() bool {
		recs = psRows(t, bin, dir)
		return len(recs) == 1 && recs[0].Node == "n2"
	})
	rec := recs[0]
	require.Equal(t, task.StateDone, rec.State, "%+v", rec)
	require.Equal(t, "prime 2000 is 17389", rec.Result)
	require.Equal(t, "n1", rec.Bank)
	require.Zero(t, rec.Restarts, "the finished task did not run again")

	// The result stays until the operator removes it.
	out, err = ftmctl(t, bin, "rm", "n1/1", "--dir", dir)
	require.Error(t, err, "n2 has no backup while n1 is down: nothing is removed")
	require.Contains(t, out, "no backup attached")
	require.Len(t, psRows(t, bin, dir), 1)
	out, err = ftmctl(t, bin, "pair", "up", "--dir", dir)
	require.NoError(t, err, out)
	eventually(t, "n2 removes the task once n1 backs its banks up", func() bool {
		out, err = ftmctl(t, bin, "rm", "n1/1", "--dir", dir)
		return err == nil
	})
	require.Contains(t, out, "task n1/1 (primes, done) removed from node n2")
	require.Empty(t, psRows(t, bin, dir))
	out, err = ftmctl(t, bin, "rm", "n1/1", "--dir", dir)
	require.Error(t, err)
	require.Contains(t, out, "no node of the pair lists task n1/1")
}
