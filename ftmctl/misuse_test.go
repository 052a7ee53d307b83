package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/node/control"
)

// misuse is a command line ftmctl must refuse before acting: one line on
// stderr naming want, a non-zero exit, at once.
type misuse struct {
	name  string
	args  []string
	want  string
	after func(t *testing.T) // checks nothing was done (nil: none)
}

// refusedAtOnce bounds how long a refusal may take. A refusal is expected
// within a second; the bound is generous so a loaded machine does not
// flake: the point is that nothing waits (for a session, a node, a
// timeout).
const refusedAtOnce = 5 * time.Second

// Every misuse is refused at once in one line with a non-zero exit:
// a program's arguments, a flag's range, names that would leave the
// state directory, an attach to no session and an add past int64. The
// cases that need a pair share one, started once.
func TestMisuseRefusedAtOnce(t *testing.T) {
	t.Parallel() // real processes in a directory of its own, on free ports; no CPU-bound workload
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin, dir, _ := startPair(t)
	waitServers(t, bin, dir, "n1", "n2")
	out, err := ftmctl(t, bin, "kv", "put", "big", "9223372036854775807", "--dir", dir)
	require.NoError(t, err, out)

	fresh := t.TempDir()
	emptySecret := filepath.Join(fresh, "emptysecret")
	require.NoError(t, os.MkdirAll(emptySecret, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(emptySecret, control.SecretFile), []byte("\n"), 0o600))
	for _, m := range []misuse{
		{name: "primes zero", args: []string{"run", "primes", "0", "--dir", dir}, want: "N must be a positive number"},
		{name: "primes negative", args: []string{"run", "primes", "--dir", dir, "--", "-5"}, want: "N must be a positive number"},
		{name: "primes too many", args: []string{"run", "primes", "16777217", "--dir", dir}, want: "N must be at most 16777216"},
		{name: "primes not a number", args: []string{"run", "primes", "abc", "--dir", dir}, want: "N must be a positive number"},
		{name: "attach unknown session", args: []string{"attach", "nosuch", "--dir", dir}, want: "editing session nosuch"},
		{name: "kv add overflows", args: []string{"kv", "add", "big", "1", "--dir", dir}, want: "overflows"},
		{name: "isolate unknown node", args: []string{"partition", "--isolate", "n3", "--dir", dir}, want: `unknown node "n3"`},
		{name: "isolate and node", args: []string{"partition", "--isolate", "n1", "--node", "n2", "--dir", dir},
			want: "none of the others can be"},
		{name: "heartbeat zero", args: []string{"pair", "up", "--heartbeat", "0s", "--dir", filepath.Join(fresh, "hb0")},
			want: "--heartbeat must be positive", after: notCreated(filepath.Join(fresh, "hb0"))},
		{name: "heartbeat negative", args: []string{"pair", "up", "--heartbeat=-1s", "--dir", filepath.Join(fresh, "hbneg")},
			want: "--heartbeat must be positive", after: notCreated(filepath.Join(fresh, "hbneg"))},
		{name: "node name escapes dir", args: []string{"pair", "up", "--nodes", "../escaped,b", "--dir", filepath.Join(fresh, "esc")},
			want: "bad node name", after: notCreated(filepath.Join(fresh, "esc"), filepath.Join(fresh, "escaped.log"))},
		{name: "call timeout zero", args: []string{"call", "n1/kv", "get", `"big"`, "--timeout", "0s", "--dir", dir}, want: "--timeout must be positive"},
		{name: "ckpt timeout negative", args: []string{"ckpt", "now", "n1/1", "--timeout=-1s", "--dir", dir}, want: "--timeout must be positive"},
		{name: "empty secret", args: []string{"pair", "up", "--dir", emptySecret},
			want: "secret is corrupt", after: notCreated(filepath.Join(emptySecret, "pair.json"))},
		{name: "node name is a path", args: []string{"pair", "up", "--nodes", "a/b,c", "--dir", filepath.Join(fresh, "path")},
			want: "bad node name", after: notCreated(filepath.Join(fresh, "path"))},
		{name: "web config without address", args: []string{"pair", "up", "--web-config-file", "web.yml", "--dir", filepath.Join(fresh, "web")},
			want: "--web-config-file needs --metrics-addr", after: notCreated(filepath.Join(fresh, "web"))},
		{name: "web config missing", args: []string{"pair", "up", "--metrics-addr", "0.0.0.0:0", "--web-config-file", filepath.Join(fresh, "nosuch.yml"), "--dir", filepath.Join(fresh, "web2")},
			want: "--web-config-file: stat ", after: notCreated(filepath.Join(fresh, "web2"))},
		{name: "dot with json", args: []string{"ru", "graph", "--dot", "-o", "json", "--dir", dir}, want: "--dot and -o json conflict"},
		{name: "stop an unknown task", args: []string{"stop", "n1/99", "--dir", dir}, want: "no node of the pair lists task n1/99"},
		{name: "logs since nonsense", args: []string{"logs", "--since", "yesterday", "--dir", dir}, want: `--since "yesterday"`},
		{name: "task stop an unknown task", args: []string{"task", "stop", "n1/99", "--dir", dir}, want: "no node of the pair lists task n1/99"},
		{name: "task rm not a task", args: []string{"task", "rm", "n1", "--dir", dir}, want: `"n1" is not BANK/TASK`},
		{name: "ports of a node", args: []string{"ports", "n1", "--dir", dir}, want: "n1 is a node, not a kernel task: 'ftmctl ports --node n1' lists its kernel tasks"},
		{name: "ckpt now without a task", args: []string{"ckpt", "now", "--dir", dir}, want: "(usage: ftmctl ckpt now TASK|RU [flags])"},
		{name: "logs takeover not an id", args: []string{"logs", "--takeover", "n1", "--dir", dir}, want: "--takeover wants a takeover id"},
	} {
		t.Run(m.name, func(t *testing.T) {
			line, took := refusedLine(t, bin, m.args)
			require.Contains(t, line, m.want)
			require.Less(t, took, refusedAtOnce, "refused only after %s", took)
			t.Logf("%s: %s (%s)", m.name, line, took)
			if m.after != nil {
				m.after(t)
			}
		})
	}
	out, err = ftmctl(t, bin, "kv", "get", "big", "--dir", dir)
	require.NoError(t, err, out)
	require.Contains(t, out, "9223372036854775807", "the refused add left the value as it was")
}

// refusedLine runs ftmctl expecting a refusal: a non-zero exit and exactly
// one line on stderr, which it returns with the time the refusal took.
func refusedLine(t *testing.T, bin string, args []string) (string, time.Duration) {
	t.Helper()
	c := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	start := time.Now()
	err := c.Run()
	took := time.Since(start)
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "ftmctl %v should fail; err %v, stdout %.500s", args, err, stdout.String())
	require.NotZero(t, exit.ExitCode())
	line := stderr.String()
	require.Equal(t, 1, strings.Count(line, "\n"), "one line on stderr: %q", line)
	require.True(t, strings.HasSuffix(line, "\n"), line)
	return strings.TrimSpace(line), took
}

// notCreated checks that none of paths exists.
func notCreated(paths ...string) func(t *testing.T) {
	return func(t *testing.T) {
		for _, p := range paths {
			_, err := os.Stat(p)
			require.True(t, os.IsNotExist(err), "%s was created (%v)", p, err)
		}
	}
}
