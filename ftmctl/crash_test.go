package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/node/control"
)

func writePair(t *testing.T, st *pairState) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, savePair(dir, st))
	return dir
}

func TestCrashWithoutPairSaysHowToStartOne(t *testing.T) {
	_, _, err := run(t, "crash", "alpha", "--dir", t.TempDir())
	require.ErrorIs(t, err, errNoPair)
	require.ErrorContains(t, err, "ftmctl pair up")
}

func TestCrashRefusedWhenFaultsNotAllowed(t *testing.T) {
	dir := writePair(t, &pairState{Nodes: []nodeState{{Name: "alpha", PID: os.Getpid()}}})
	_, _, err := run(t, "crash", "alpha", "--dir", dir)
	require.ErrorContains(t, err, "--allow-faults")
}

func TestCrashUnknownNode(t *testing.T) {
	dir := writePair(t, &pairState{AllowFaults: true, Nodes: []nodeState{{Name: "alpha"}, {Name: "beta"}}})
	_, _, err := run(t, "crash", "gamma", "--dir", dir)
	require.ErrorContains(t, err, `unknown node "gamma"`)
	require.ErrorContains(t, err, "alpha beta")
}

func TestCrashCorruptStateFile(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, control.StateFile), []byte("{not json"), 0o600))
	_, _, err := run(t, "crash", "alpha", "--dir", dir)
	require.ErrorContains(t, err, "corrupt")
}

func TestCrashKillsTheProcessWithSIGKILL(t *testing.T) {
	victim := exec.Command("sleep", "60")
	require.NoError(t, victim.Start())
	done := make(chan error, 1)
	go func() { done <- victim.Wait() }()
	pid := victim.Process.Pid
	dir := writePair(t, &pairState{AllowFaults: true, Nodes: []nodeState{{Name: "alpha", PID: pid, Start: startTimeOf(pid)}}})
	out, _, err := run(t, "crash", "alpha", "--dir", dir)
	require.NoError(t, err)
	require.Contains(t, out, "killed with SIGKILL")
	select {
	case err := <-done:
		require.ErrorContains(t, err, "signal: killed")
	case <-time.After(10 * time.Second):
		t.Fatal("victim still running after crash")
	}
	_, _, err = run(t, "crash", "alpha", "--dir", dir)
	require.ErrorContains(t, err, "not running")
}

func TestAliveSeesZombieAsDead(t *testing.T) {
	c := exec.Command("true")
	require.NoError(t, c.Start())
	pid := c.Process.Pid
	// Not reaped yet: a zombie once it exits.
	require.Eventually(t, func() bool { return !alive(pid) }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, c.Wait())
	require.False(t, alive(pid))
	require.True(t, alive(os.Getpid()))
}
