package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// pair up starts any node binary: without --exec it wants the default one
// next to ftmctl and says how to get it; with --exec it runs a user's
// binary (testdata/usernode: a program and a server ftmctl knows nothing
// of), keeps its path for restarts, and ftmctl runs, lists and checkpoints
// the user's program and server as it does the demos' — through a SIGKILL
// of the node running them.
func TestPairUpExecRunsAUsersNodeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	alone := filepath.Join(t.TempDir(), "ftmctl")
	out, err := exec.Command("go", "build", "-o", alone, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	dir := filepath.Join(t.TempDir(), "pair")
	require.Contains(t, oneLineError(t, alone, "pair", "up", "--dir", dir), "no node binary")
	require.Contains(t, oneLineError(t, alone, "pair", "up", "--exec", filepath.Join(dir, "nothing"), "--dir", dir), "not an executable file")

	user := filepath.Join(t.TempDir(), "usernode")
	out, err = exec.Command("go", "build", "-o", user, "./testdata/usernode").CombinedOutput()
	require.NoError(t, err, string(out))
	out2, err := ftmctl(t, alone, "pair", "up", "--exec", user, "--allow-faults", "--nodes", "n1,n2", "--dir", dir)
	require.NoError(t, err, out2)
	t.Cleanup(func() { _, _ = ftmctl(t, alone, "pair", "down", "--dir", dir, "--grace", "1s") })
	t.Cleanup(func() { dumpLogsOnFailure(t, dir, "n1", "n2") })
	st, err := loadPair(dir)
	require.NoError(t, err)
	require.Equal(t, user, st.Exec, "the node binary is kept for restarts")

	waitServers(t, alone, dir, "n1", "n2")
	node, u := unitIn(ruNodes(t, alone, dir), "n1/tally")
	require.Equal(t, "n1", node, "the user's server runs on every bank: n1/tally on n1")
	require.True(t, u.Up)
	out2, err = ftmctl(t, alone, "ckpt", "now", "n1/tally", "--dir", dir)
	require.NoError(t, err, out2)
	out2, err = ftmctl(t, alone, "run", "square", "12", "--dir", dir)
	require.NoError(t, err, out2)
	eventually(t, "the user's program ran as a stable task", func() bool {
		recs := psRows(t, alone, dir)
		return len(recs) == 1 && recs[0].Program == "square" && recs[0].Result == "squared 144"
	})
	require.Contains(t, oneLineError(t, alone, "run", "primes", "--dir", dir), "primes", "the demos are not in a user's node")

	out2, err = ftmctl(t, alone, "crash", "n1", "--dir", dir)
	require.NoError(t, err, out2)
	eventually(t, "n2 took n1's bank over", func() bool { return takeovers(statusRows(t, alone, dir), "n2") == 1 })
	out2, err = ftmctl(t, alone, "pair", "up", "--dir", dir)
	require.NoError(t, err, out2)
	require.Contains(t, out2, "restarted")
	// Once the restarted n1 (the same binary) backs the bank up again, n2
	// runs the user's server of n1's bank, restarted from its state there.
	eventually(t, "n2 runs n1/tally", func() bool {
		node, u := unitIn(ruNodes(t, alone, dir), "n1/tally")
		return node == "n2" && u.Up
	})
	log, err := ftmctl(t, alone, "logs", "n1", "--dir", dir)
	require.NoError(t, err)
	require.True(t, strings.Contains(log, "node started"), log)
}
