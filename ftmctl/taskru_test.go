package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/servers/pager"
	"github.com/ftm-in-go/ftm/task"
)

// sieveUnits are the recovery units of the sieve run as task 1 of bank n1
// (§6.1): its application RU and one per segment — data, progress, heap.
var sieveUnits = []string{task.UnitName("n1", 1), pager.UnitName(task.UnitName("n1", 1), "primes"),
	pager.UnitName(task.UnitName("n1", 1), "progress"), pager.UnitName(task.UnitName("n1", 1), task.HeapSegment)}

// Reference: §6.1, with real processes — `ftmctl ru` shows the sieve,
// running as a stable task on a pair, as four recovery units on its node.
func TestRUShowsTheSievesFourUnits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin, dir, _ := startPair(t)
	eventually(t, "both nodes are linked and backed up", func() bool {
		out, err := ftmctl(t, bin, "run", "primes", "1600000", "--dir", dir)
		return err == nil && strings.Contains(out, "started on node n1")
	})
	eventually(t, "ru lists the sieve's four units on n1", func() bool {
		nodes := ruNodes(t, bin, dir)
		for _, u := range sieveUnits {
			if node, _ := unitIn(nodes, u); node != "n1" {
				return false
			}
		}
		return true
	})
	out, err := ftmctl(t, bin, "ru", "--dir", dir)
	require.NoError(t, err, out)
	for _, u := range sieveUnits {
		require.Contains(t, out, u)
	}
	recs := psRows(t, bin, dir)
	require.Len(t, recs, 1)
	require.Equal(t, task.StateRunning, recs[0].State, "ru listed the units of a task still running")
}

// waitEnded waits until `ps` lists one task, ended, on node n2.
func waitEnded(t *testing.T, bin, dir string) task.Record {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if recs := psRows(t, bin, dir); len(recs) == 1 && recs[0].Node == "n2" && recs[0].State != task.StateRunning {
			return recs[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("n2 never listed the task ended")
	return task.Record{}
}

// Reference: §4.2 and §6.1, with real processes — n1 dies by SIGKILL in
// the middle of one of the sieve's checkpoints, at a failpoint of the
// driver (between two of its units deciding the atomic action; after a
// unit saved its record) or of the pager (its pages at the units, the
// action not started); n2 takes its bank over (n1 is restarted as its
// backup, so a group left in doubt is decided) and restores one consistent
// set of the sieve's segments (the sieve checks its restored primes
// against its progress record, ErrInconsistent), and the task ends with
// the right prime.
func TestSieveKilledMidCheckpointRestoresOneSet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, point := range []string{"servers.before-decide=kill@2", "ru.after-persist=kill@40", "pager.saves-sent=kill@2"} {
		t.Run(point, func(t *testing.T) {
			t.Setenv("FTM_FAILPOINTS", "n1:"+point)
			bin, dir, _ := startPair(t)
			st, err := loadPair(dir)
			require.NoError(t, err)
			n1, err := st.Node("n1")
			require.NoError(t, err)
			eventually(t, "both nodes are linked and backed up", func() bool {
				out, err := ftmctl(t, bin, "run", "primes", "800000", "--dir", dir)
				return err == nil && strings.Contains(out, "started on node n1")
			})
			// A checkpoint group the kill left in doubt is decided once the
			// bank has a backup again: n1 comes back as n2's backup.
			eventually(t, "n1 died at its failpoint", func() bool { return !alive(n1.PID) })
			t.Setenv("FTM_FAILPOINTS", "") // n1 comes back without its failpoint
			out, err := ftmctl(t, bin, "pair", "up", "--dir", dir)
			require.NoError(t, err, out)
			rec := waitEnded(t, bin, dir)
			require.Equal(t, task.StateDone, rec.State, "%+v", rec)
			require.Equal(t, "prime 800000 is 12195257", rec.Result)
			require.Equal(t, 1, rec.Restarts, "n1 died at the failpoint; n2 restarted the task")
			require.True(t, rec.Stats.Restored, "restarted from a checkpoint, not from scratch")
		})
	}
}

// Reference: §4.3, with real processes — a task whose node dies just after
// it completed (its last checkpoint committed, its end not yet recorded on
// its own: a task failpoint) is listed done, with its result, on the
// survivor, which does not run it again: the end committed with the last
// checkpoint.
func TestTaskKilledJustAfterItCompletedIsListedOnTheSurvivor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Setenv("FTM_FAILPOINTS", "n1:"+task.FPRecordEnd+"=kill")
	bin, dir, _ := startPair(t)
	eventually(t, "both nodes are linked and backed up", func() bool {
		out, err := ftmctl(t, bin, "run", "primes", "2000", "--dir", dir)
		return err == nil && strings.Contains(out, "started on node n1")
	})
	rec := waitEnded(t, bin, dir)
	require.Equal(t, task.StateDone, rec.State, "%+v", rec)
	require.Equal(t, "prime 2000 is 17389", rec.Result)
	require.Equal(t, "n1", rec.Bank)
	require.Zero(t, rec.Restarts, "the finished task did not run again")
}

// ruUnitsOf sums the ftm_ru_units gauges of bank over every phase, in a
// node's Prometheus text.
func ruUnitsOf(t *testing.T, prom, bank string) int {
	t.Helper()
	re := regexp.MustCompile(`(?m)^ftm_ru_units\{bank="` + regexp.QuoteMeta(bank) + `",phase="[a-z]+"\} (\d+)$`)
	total := 0
	for _, m := range re.FindAllStringSubmatch(prom, -1) {
		n, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		total += n
	}
	return total
}
