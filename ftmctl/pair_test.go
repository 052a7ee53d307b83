package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/internal/proctest"
	"github.com/ftm-in-go/ftm/pair"
)

// buildFtmctl compiles the real binaries once per test run: ftmctl, and
// next to it the default node binary its pair up starts.
func buildFtmctl(t *testing.T) string {
	t.Helper()
	return built.Path(t, "ftmctl")
}

// built holds the binaries every test of the package shares.
var built = proctest.Binaries{Builds: [][2]string{{"ftmctl", "."}, {"ftmnode", "../examples/ftmnode"}}}

// TestMain removes the shared binaries once every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	built.Remove()
	os.Exit(code)
}

func ftmctl(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

func statusRows(t *testing.T, bin, dir string) []statusRow {
	t.Helper()
	out, err := ftmctl(t, bin, "status", "--dir", dir, "-o", "json")
	require.NoError(t, err, out)
	var rows []statusRow
	require.NoError(t, json.Unmarshal([]byte(out), &rows), out)
	return rows
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// banks returns node's STM banks by name as role/mirror-or-ready.
func banks(rows []statusRow, node string) map[string]string {
	out := map[string]string{}
	for _, r := range rows {
		if r.Node != node || r.Status == nil || r.Status.STM == nil {
			continue
		}
		for _, b := range r.Status.STM.Banks {
			state := b.Mirror
			if b.Role == pair.RoleBackup {
				state = map[bool]string{true: "ready", false: "copying"}[b.Ready]
			}
			out[b.Name] = b.Role + "/" + state
		}
	}
	return out
}

func takeovers(rows []statusRow, node string) int {
	for _, r := range rows {
		if r.Node == node && r.Status != nil && r.Status.STM != nil {
			return r.Status.STM.Takeovers
		}
	}
	return -1
}

// dumpLogsOnFailure shows the nodes' logs of a failed test.
func dumpLogsOnFailure(t *testing.T, dir string, nodes ...string) {
	if !t.Failed() {
		return
	}
	for _, n := range nodes {
		b, _ := os.ReadFile(filepath.Join(dir, n+".log"))
		t.Logf("--- %s.log:\n%s", n, b)
	}
}

// startPair builds ftmctl and starts a pair of nodes n1 and n2 with faults
// allowed (and the extra `pair up` flags); the pair goes down (its logs
// printed on failure) when the test ends.
func startPair(t *testing.T, extra ...string) (bin, dir, out string) {
	t.Helper()
	bin = buildFtmctl(t)
	dir = filepath.Join(t.TempDir(), "pair")
	out, err := ftmctl(t, bin, append([]string{"pair", "up", "--dir", dir, "--allow-faults", "--nodes", "n1,n2"}, extra...)...)
	require.NoError(t, err, out)
	t.Cleanup(func() { _, _ = ftmctl(t, bin, "pair", "down", "--dir", dir, "--grace", "1s") })
	t.Cleanup(func() { dumpLogsOnFailure(t, dir, "n1", "n2") })
	return bin, dir, out
}

func linked(rows []statusRow, node string) bool {
	for _, r := range rows {
		if r.Node == node && r.Status != nil && r.Status.Linked {
			return true
		}
	}
	return false
}

// pairLifecycle is a real pair driven through ftmctl; its methods are the
// steps of the lifecycle test, run in order.
type pairLifecycle struct {
	t   *testing.T
	bin string
	dir string
}

// End to end with real processes: a pair comes up and links, one node is
// killed with SIGKILL, its partner sees the loss, the node is restarted and
// rejoins, and the pair goes down.
func TestPairLifecycleWithRealProcesses(t *testing.T) {
	t.Parallel() // real processes in a directory of its own, on free ports; no CPU-bound workload
	if testing.Short() {
		t.Skip("starts processes")
	}
	// No witness: this is the pair whose survivor refuses commits with no
	// backup (the status note below); node's TestSurvivorAnswersDurable-
	// UpdatesAfterSIGKILL runs the pair with its witness.
	bin, dir, out := startPair(t, "--no-witness")
	l := pairLifecycle{t: t, bin: bin, dir: dir}

	l.comesUpLinked(out)
	l.isNotStartedTwice()
	l.partnerTakesOverAKilledNode()
	l.restartedNodeBacksUpBothBanks()
	l.secondFailureAfterReprotection()
	l.goesDown()
	l.everyLogLineNamesItsNode()
}

// comesUpLinked: pair up started both nodes (its output is out), they
// link, each bank backed up by the partner, and status shows it.
func (l pairLifecycle) comesUpLinked(out string) {
	t, bin, dir := l.t, l.bin, l.dir
	require.Contains(t, out, "node n1")
	eventually(t, "both nodes are linked, each bank backed up by the partner", func() bool {
		rows := statusRows(t, bin, dir)
		return linked(rows, "n1") && linked(rows, "n2") &&
			fmt.Sprint(banks(rows, "n1")) == "map[n1:own/attached n2:backup/ready]" &&
			fmt.Sprint(banks(rows, "n2")) == "map[n1:backup/ready n2:own/attached]"
	})
	table, err := ftmctl(t, bin, "status", "--dir", dir, "-o", "wide")
	require.NoError(t, err)
	require.Regexp(t, `n1\s+\d+\s+running\s+n2\s+up\s+0`, table)
	require.Regexp(t, `\d+ objs, seq \d+\s+yes \(attached\)\s+backup held\s+0\s+-`, table)
}

// isNotStartedTwice: pair up on a running pair fails.
func (l pairLifecycle) isNotStartedTwice() {
	t, bin, dir := l.t, l.bin, l.dir
	_, err := ftmctl(t, bin, "pair", "up", "--dir", dir)
	require.ErrorContains(t, err, "exit status 1", "a running pair is not started twice")
}

// partnerTakesOverAKilledNode: n2 is killed; n1 sees its partner gone,
// takes n2's bank over, logs both, and status notes that its commits are
// refused with no backup.
func (l pairLifecycle) partnerTakesOverAKilledNode() {
	t, bin, dir := l.t, l.bin, l.dir
	out, err := ftmctl(t, bin, "crash", "n2", "--dir", dir)
	require.NoError(t, err, out)
	eventually(t, "n1 sees its partner gone", func() bool {
		rows := statusRows(t, bin, dir)
		return rows[0].Status != nil && !rows[0].Status.Linked && rows[0].Status.Epoch == 1 && !rows[1].Running
	})
	eventually(t, "n1 took n2's bank over", func() bool {
		rows := statusRows(t, bin, dir)
		return takeovers(rows, "n1") == 1 && fmt.Sprint(banks(rows, "n1")) == "map[n1:own/none n2:taken-over/none]"
	})
	log, err := os.ReadFile(filepath.Join(dir, "n1.log"))
	require.NoError(t, err)
	require.Contains(t, string(log), "partner lost")
	require.Contains(t, string(log), "took over the partner's bank")
	table, err := ftmctl(t, bin, "status", "--dir", dir)
	require.NoError(t, err)
	require.Contains(t, table, "note: n1 holds bank n1, n2 with no backup attached: its commits are refused")
}

// restartedNodeBacksUpBothBanks: pair up restarts n2, which rejoins as
// the backup of both banks n1 now holds.
func (l pairLifecycle) restartedNodeBacksUpBothBanks() {
	t, bin, dir := l.t, l.bin, l.dir
	out, err := ftmctl(t, bin, "pair", "up", "--dir", dir)
	require.NoError(t, err, out)
	require.Contains(t, out, "restarted")
	eventually(t, "n2 rejoined as the backup of both banks", func() bool {
		rows := statusRows(t, bin, dir)
		return linked(rows, "n1") && linked(rows, "n2") &&
			fmt.Sprint(banks(rows, "n1")) == "map[n1:own/attached n2:taken-over/attached]" &&
			fmt.Sprint(banks(rows, "n2")) == "map[n1:backup/ready n2:backup/ready]"
	})
}

// secondFailureAfterReprotection: n2 takes both banks over, and a
// restarted n1 protects them again.
func (l pairLifecycle) secondFailureAfterReprotection() {
	t, bin, dir := l.t, l.bin, l.dir
	out, err := ftmctl(t, bin, "crash", "n1", "--dir", dir)
	require.NoError(t, err, out)
	eventually(t, "n2 took both banks over", func() bool {
		rows := statusRows(t, bin, dir)
		return takeovers(rows, "n2") == 2 && fmt.Sprint(banks(rows, "n2")) == "map[n1:taken-over/none n2:own/none]"
	})
	out, err = ftmctl(t, bin, "pair", "up", "--dir", dir)
	require.NoError(t, err, out)
	eventually(t, "n1 rejoined as the backup of both banks", func() bool {
		rows := statusRows(t, bin, dir)
		return fmt.Sprint(banks(rows, "n2")) == "map[n1:taken-over/attached n2:own/attached]" &&
			fmt.Sprint(banks(rows, "n1")) == "map[n1:backup/ready n2:backup/ready]"
	})
}

// goesDown: pair down stops both nodes, and status then finds no pair.
func (l pairLifecycle) goesDown() {
	t, bin, dir := l.t, l.bin, l.dir
	out, err := ftmctl(t, bin, "pair", "down", "--dir", dir)
	require.NoError(t, err, out)
	require.Equal(t, 2, strings.Count(out, "stopped"), out)
	_, err = ftmctl(t, bin, "status", "--dir", filepath.Join(dir, "nothing"))
	require.ErrorContains(t, err, "exit status 1")
}

// everyLogLineNamesItsNode: after two takeovers and two rejoins, every line
// both nodes logged carries the node field, and the merged view orders them
// by time.
func (l pairLifecycle) everyLogLineNamesItsNode() {
	t := l.t
	for _, n := range []string{"n1", "n2"} {
		b, err := os.ReadFile(filepath.Join(l.dir, n+".log"))
		require.NoError(t, err)
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var rec struct {
				Node string `json:"node"`
			}
			require.NoError(t, json.Unmarshal([]byte(line), &rec), "%s: %s", n, line)
			require.Equal(t, n, rec.Node, "a line of %s.log without its node: %s", n, line)
		}
	}
	merged, err := ftmctl(t, l.bin, "logs", "--dir", l.dir)
	require.NoError(t, err)
	last := 0.0
	for _, line := range strings.Split(strings.TrimSpace(merged), "\n") {
		var rec struct {
			TS float64 `json:"ts"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		require.GreaterOrEqual(t, rec.TS, last, "merged in time order: %s", line)
		last = rec.TS
	}
	require.Contains(t, merged, `"node":"n1"`)
	require.Contains(t, merged, `"node":"n2"`)
}
