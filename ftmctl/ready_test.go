package main

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// exitStatus runs ftmctl and returns its combined output and exit status.
func exitStatus(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	require.NoError(t, err, string(out))
	return string(out), 0
}

// pair up returns only once the pair is ready, so a kv call right after it
// succeeds; health follows the pair through a crash, wait says what it
// still misses, and the restarted node's pair up waits for protection.
func TestPairUpWaitsUntilReadyAndHealthFollowsACrash(t *testing.T) {
	t.Parallel() // real processes in a directory of its own, on free ports; no CPU-bound workload
	bin, dir, out := startPair(t)
	require.Contains(t, out, "pair ready")
	out, err := ftmctl(t, bin, "kv", "add", "visits", "1", "--dir", dir)
	require.NoError(t, err, out)
	require.Contains(t, out, "-> 1")

	out, code := exitStatus(t, bin, "health", "--dir", dir)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "healthy")

	out, err = ftmctl(t, bin, "crash", "n1", "--dir", dir)
	require.NoError(t, err, out)
	out, code = exitStatus(t, bin, "health", "--dir", dir)
	require.Equal(t, exitDegraded, code, out)
	require.Contains(t, out, "node n1 is not running")

	out, code = exitStatus(t, bin, "wait", "protected", "--timeout", "300ms", "--dir", dir)
	require.Equal(t, 1, code, out)
	require.Equal(t, 1, strings.Count(strings.TrimSpace(out), "\n")+1, out)
	require.Contains(t, out, "wait protected: timed out after 300ms: node n1 is not running")

	out, err = ftmctl(t, bin, "pair", "up", "--dir", dir)
	require.NoError(t, err, out)
	require.Contains(t, out, "pair ready")
	out, code = exitStatus(t, bin, "health", "--dir", dir)
	require.Equal(t, 0, code, out)
	out, err = ftmctl(t, bin, "wait", "node", "n1", "--dir", dir, "--timeout", "1s")
	require.NoError(t, err, out)
}

// A node that dies at start (its metrics port is taken) fails pair up with
// the cause from the node's log, not a silent exit 0; with no node up,
// health says the pair is unreachable.
func TestPairUpFailsWithTheCauseWhenANodeExits(t *testing.T) {
	t.Parallel() // real processes in a directory of its own, on free ports; no CPU-bound workload
	bin := buildFtmctl(t)
	dir := filepath.Join(t.TempDir(), "pair")
	l := listenBelowAFreePort(t) // n1 takes the busy port, n2 the next one (free)
	defer l.Close()
	t.Cleanup(func() { _, _ = ftmctl(t, bin, "pair", "down", "--dir", dir, "--grace", "1s") })

	out, code := exitStatus(t, bin, "pair", "up", "--dir", dir, "--nodes", "n1,n2", "--metrics-addr", l.Addr().String())
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "pair up: node n1 exited:")
	require.Contains(t, out, "address already in use")

	_, _ = ftmctl(t, bin, "pair", "down", "--dir", dir, "--grace", "1s")
	out, code = exitStatus(t, bin, "health", "--dir", dir)
	require.Equal(t, exitUnreachable, code, out)
	require.Contains(t, out, "unreachable")
}

// listenBelowAFreePort holds a loopback port P whose next port P+1 was free
// when probed: `--metrics-addr P` gives the first node P (busy) and the
// second P+1, so only the first fails (other tests run in parallel and take
// ports too).
func listenBelowAFreePort(t *testing.T) net.Listener {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		next := fmt.Sprintf("127.0.0.1:%d", l.Addr().(*net.TCPAddr).Port+1)
		if n, err := net.Listen("tcp", next); err == nil {
			_ = n.Close()
			return l
		}
		_ = l.Close()
	}
	t.Fatal("no loopback port with a free successor")
	return nil
}

func TestWaitRefusesAnUnknownCondition(t *testing.T) {
	for _, args := range [][]string{{}, {"bogus"}, {"task", "alpha"}, {"node"}, {"ready", "x"}} {
		root := newRootCmd(&strings.Builder{}, &strings.Builder{})
		root.SetArgs(append([]string{"wait", "--dir", t.TempDir()}, args...))
		require.Error(t, root.Execute(), "wait %v", args)
	}
}
