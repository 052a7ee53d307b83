package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/node/control"
)

// unrelated starts a `sleep 30` that is no node; it is killed and reaped
// when the test ends.
func unrelated(t *testing.T) *exec.Cmd {
	t.Helper()
	c := exec.Command("sleep", "30")
	require.NoError(t, c.Start())
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	return c
}

// requireAlive fails unless pid still runs after a moment (a SIGKILL or
// SIGTERM sent to it would have ended it by then).
func requireAlive(t *testing.T, pid int) {
	t.Helper()
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, syscall.Kill(pid, 0), "pid %d was signalled", pid)
	require.True(t, alive(pid), "pid %d was signalled", pid)
}

func requireOneLine(t *testing.T, err error, want string) {
	t.Helper()
	require.Error(t, err)
	require.NotContains(t, err.Error(), "\n")
	require.Contains(t, err.Error(), want)
}

// A PID in pair.json that now belongs to an unrelated process — recorded
// with the node's start time (another one), or with none recorded and no
// control socket to confirm it — is never signalled by crash or pair down;
// both exit non-zero with one line.
func TestRecordedPIDOfAnotherProcessIsNotSignalled(t *testing.T) {
	sleep := unrelated(t)
	pid := sleep.Process.Pid
	start, err := procStartTime(pid)
	require.NoError(t, err)
	for _, c := range []struct {
		name  string
		start uint64
		want  string
	}{
		{"another start time", start + 1, "belongs to another process"},
		{"no start time, no control socket", 0, "not confirmed as the node"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := writePair(t, &pairState{AllowFaults: true, Nodes: []nodeState{{Name: "alpha", PID: pid, Start: c.start}}})
			_, _, err := run(t, "crash", "alpha", "--dir", dir)
			requireOneLine(t, err, c.want)
			requireAlive(t, pid)
			out, _, err := run(t, "pair", "down", "--dir", dir, "--grace", "50ms")
			requireOneLine(t, err, c.want)
			require.Contains(t, out, "node alpha: not signalled")
			requireAlive(t, pid)
		})
	}
}

func TestProcStartTimeIsStable(t *testing.T) {
	a, err := procStartTime(os.Getpid())
	require.NoError(t, err)
	require.NotZero(t, a)
	b, err := procStartTime(os.Getpid())
	require.NoError(t, err)
	require.Equal(t, a, b)
	sleep := unrelated(t)
	c, err := procStartTime(sleep.Process.Pid)
	require.NoError(t, err)
	require.GreaterOrEqual(t, c, a, "a later process starts later")
}

// pair up over a damaged pair.json refuses, says how to recover, and
// leaves the file as it is (without a node binary: nothing else would
// refuse before it starts nodes).
func TestPairUpRefusesADamagedPairJSON(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, control.StateFile)
	require.NoError(t, os.WriteFile(p, []byte("{not json"), 0o600))
	_, _, err := run(t, "pair", "up", "--dir", dir)
	requireOneLine(t, err, "is damaged")
	require.Contains(t, err.Error(), "pair down --force")
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "{not json", string(b))
}

// pair up refuses while something listens on a control socket in the
// directory, though pair.json is lost.
func TestPairUpRefusesWhileANodeAnswers(t *testing.T) {
	dir, err := os.MkdirTemp("", "pg") // short: a unix socket path is limited
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := net.Listen("unix", filepath.Join(dir, "alpha.sock"))
	require.NoError(t, err)
	defer l.Close()
	_, _, err = run(t, "pair", "up", "--dir", dir)
	requireOneLine(t, err, "still answers on")
	require.True(t, strings.HasSuffix(err.Error(), "`ftmctl pair down --force --dir "+dir+"`)"), err.Error())
}

// A running pair whose pair.json is damaged: pair up refuses and starts no
// more nodes (the running ones untouched, the file as it was); pair down
// --force stops the nodes found on their control sockets and moves the
// file aside, so pair up may start afresh.
func TestDamagedPairJSONOverARunningPair(t *testing.T) {
	t.Parallel() // real processes in a directory of its own, on free ports; no CPU-bound workload
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin, dir, _ := startPair(t)
	st, err := loadPair(dir)
	require.NoError(t, err)
	for _, n := range st.Nodes {
		require.NotZero(t, n.Start, "pair up records node %s's start time", n.Name)
	}
	eventually(t, "both nodes are linked", func() bool {
		rows := statusRows(t, bin, dir)
		return linked(rows, "n1") && linked(rows, "n2")
	})
	ctx := context.Background()
	for _, n := range st.Nodes {
		require.NoError(t, verifyNode(ctx, dir, &n), "start time matches")
		n.Start = 0
		require.NoError(t, verifyNode(ctx, dir, &n), "no start time: the control socket gives the pid")
		n.PID = unrelated(t).Process.Pid
		require.ErrorIs(t, verifyNode(ctx, dir, &n), errPIDUnverified, "the control socket gives another pid")
	}
	p := filepath.Join(dir, control.StateFile)
	good, err := os.ReadFile(p)
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.WriteFile(p, good, 0o600) }) // so the pair goes down
	require.NoError(t, os.WriteFile(p, good[:len(good)/2], 0o600))

	line := oneLineError(t, bin, "pair", "up", "--dir", dir)
	require.Contains(t, line, "is damaged")
	require.Contains(t, line, "pair down --force")
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, good[:len(good)/2], b, "pair.json left as it was")
	for _, n := range st.Nodes {
		requireAlive(t, n.PID)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "n*.log")) // the nodes', not the witness's
	require.Len(t, logs, 2, "no more nodes")

	out, err := ftmctl(t, bin, "pair", "down", "--force", "--dir", dir, "--grace", "2s")
	require.NoError(t, err, out)
	require.Equal(t, 2, strings.Count(out, "stopped"), out)
	for _, n := range st.Nodes {
		eventually(t, "node "+n.Name+" is gone", func() bool { return !alive(n.PID) })
	}
	require.FileExists(t, p+".damaged")
	require.NoFileExists(t, p)
}

// A --dir that is a file is said so, not taken for a damaged pair; a
// corrupt pair.json read by any command says how to stop its nodes.
func TestDirThatIsAFileAndACorruptPairJSONSayWhatToDo(t *testing.T) {
	file := filepath.Join(t.TempDir(), "notadir")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	for _, args := range [][]string{{"pair", "up", "--dir", file}, {"status", "--dir", file}} {
		_, _, err := run(t, args...)
		requireOneLine(t, err, file+": not a directory")
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, control.StateFile), []byte("{not json"), 0o600))
	for _, args := range [][]string{{"status", "--dir", dir}, {"pair", "down", "--dir", dir}} {
		_, _, err := run(t, args...)
		requireOneLine(t, err, "is corrupt")
		require.Contains(t, err.Error(), "`ftmctl pair down --force --dir "+dir+"`")
	}
}
