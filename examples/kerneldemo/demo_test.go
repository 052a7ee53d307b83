package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const envHelper = "FTM_DEMO_HELPER"

// TestHelperProcess is the demo's main when the test re-executes itself
// (node A, which re-executes the same way as node B).
func TestHelperProcess(t *testing.T) {
	if os.Getenv(envHelper) != "1" {
		t.Skip("runs only as a child of TestDemo")
	}
	os.Exit(run(os.Stdout, os.Stderr))
}

// When node B dies before it links up, node A says so and exits 1 instead of
// waiting for it.
func TestDemoNodeBFailsEarly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*demoTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), envHelper+"=1", envFailpoint+"=b-before-dial")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "stderr:\n%s", stderr.String())
	require.Equal(t, 1, ee.ExitCode())
	require.Contains(t, stderr.String(), "node B exited early")
}

// TestDemo runs the real demo: node A and node B as two OS processes on
// loopback, messages both ways, a send right moved from A to B, B killed
// with SIGKILL, A reporting the dead-name notification and exiting 0.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*demoTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), envHelper+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	out := stdout.String()
	require.NoError(t, err, "demo failed\nstdout:\n%s\nstderr:\n%s", out, stderr.String())

	// Node A's story, in order.
	var aLines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "node A: ") {
			aLines = append(aLines, l)
		}
	}
	story := []string{
		`running as process (\d+)`,
		`authenticated link to node b \(process (\d+)\) is up`,
		`looked up port "echo" on node b`,
		`reply: "echo: hello, node B"`,
		`moved its send right to port "inbox" .* to node b`,
		`"inbox" received from node b: "hello from node B, through the send right node A moved to me"`,
		`killing node B \(process (\d+)\) with SIGKILL`,
		`node B is gone \(signal: killed\)`,
		`dead-name notification: name \d+ \(node b's "echo"\) is now a dead name`,
		`demo complete, exiting 0`,
	}
	pids := map[string]string{}
	i := 0
	for _, want := range story {
		re := regexp.MustCompile(want)
		for i < len(aLines) && !re.MatchString(aLines[i]) {
			i++
		}
		require.Less(t, i, len(aLines), "node A never said %q (in order)\nstdout:\n%s", want, out)
		if m := re.FindStringSubmatch(aLines[i]); len(m) > 1 {
			pids[want] = m[1]
		}
	}
	// Node B spoke too, from another process: the one A linked with and killed.
	bPid := regexp.MustCompile(`node B: running as process (\d+)`).FindStringSubmatch(out)
	require.NotNil(t, bPid, out)
	require.Contains(t, out, `node B: received a send right to node A's port "inbox"`)
	require.NotEqual(t, pids[story[0]], bPid[1], "node B runs in its own process")
	require.Equal(t, bPid[1], pids[story[1]])
	require.Equal(t, bPid[1], pids[story[6]])
}
