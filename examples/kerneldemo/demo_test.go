package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/internal/proctest"
)

// The demo's main is the child's role (node A, which re-executes the test
// binary the same way as node B).
var roles = proctest.Roles{"demo": func([]string) error {
	if code := run(os.Stdout, os.Stderr); code != 0 {
		return proctest.ExitCode(code)
	}
	return nil
}}

func TestHelperProcess(t *testing.T) { os.Exit(proctest.Dispatch(t, os.Stderr, roles)) }

// When node B dies before it links up, node A says so and exits 1 instead of
// waiting for it.
func TestDemoNodeBFailsEarly(t *testing.T) {
	r := proctest.Run(t, proctest.Spec{Role: "demo", Env: []string{envFailpoint + "=b-before-dial"}, Timeout: 2 * demoTimeout})
	var ee *exec.ExitError
	require.ErrorAs(t, r.Err, &ee, "stderr:\n%s", r.Stderr)
	require.Equal(t, 1, ee.ExitCode())
	require.Contains(t, r.Stderr, "node B exited early")
}

// TestDemo runs the real demo: node A and node B as two OS processes on
// loopback, messages both ways, a send right moved from A to B, B killed
// with SIGKILL, A reporting the dead-name notification and exiting 0.
func TestDemo(t *testing.T) {
	r := proctest.Run(t, proctest.Spec{Role: "demo", Timeout: 2 * demoTimeout})
	out := r.Stdout
	require.NoError(t, r.Err, "demo failed\nstdout:\n%s\nstderr:\n%s", out, r.Stderr)

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
