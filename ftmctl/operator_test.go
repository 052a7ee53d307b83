package main

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/ftm-in-go/ftm/node/control"
	"github.com/ftm-in-go/ftm/task"
)

// stdoutJSON runs ftmctl and decodes its stdout (errors go to stderr).
func stdoutJSON(t *testing.T, bin string, v any, args ...string) {
	t.Helper()
	c := exec.Command(bin, args...)
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	require.NoError(t, err, "ftmctl %v: %s", args, stderr.String())
	require.NoError(t, json.Unmarshal(out, v), "ftmctl %v: %.2000s", args, out)
}

// oneLineError runs ftmctl expecting a failure reported as one line
// "ftmctl: ..." on stderr and exit status 1; it returns that line.
func oneLineError(t *testing.T, bin string, args ...string) string {
	t.Helper()
	c := exec.Command(bin, args...)
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	require.Error(t, err, "ftmctl %v should fail; it printed %.500s", args, out)
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, 1, exit.ExitCode())
	line := stderr.String()
	require.Equal(t, 1, strings.Count(line, "\n"), "one line: %q", line)
	require.True(t, strings.HasPrefix(line, "ftmctl: "), line)
	require.NotContains(t, line, "goroutine", "no stack trace")
	return strings.TrimSpace(line)
}

func ckptEntries(t *testing.T, bin, dir string) []ckptEntry {
	t.Helper()
	var es []ckptEntry
	stdoutJSON(t, bin, &es, "ckpt", "log", "--dir", dir, "-o", "json")
	return es
}

// The operator commands (docs/ftmctl.md) against one real pair (two node
// processes) running the sieve as a stable task: each command's table and
// JSON, and its one-line errors.
func TestOperatorCommandsOnARealPair(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin, dir, _ := startPair(t, "--metrics-addr", "127.0.0.1:0")
	eventually(t, "both nodes are linked and backed up", func() bool {
		out, err := ftmctl(t, bin, "run", "primes", "12000000", "--dir", dir)
		return err == nil && strings.Contains(out, "started on node n1")
	})
	eventually(t, "the task checkpointed", func() bool {
		recs := psRows(t, bin, dir)
		return len(recs) == 1 && recs[0].Stats.Checkpoints >= 1
	})

	t.Run("auth", func(t *testing.T) { checkAuth(t, bin, dir) })
	t.Run("ports", func(t *testing.T) { checkPorts(t, bin, dir) })
	t.Run("ckpt", func(t *testing.T) { checkCkpt(t, bin, dir) })
	t.Run("metrics", func(t *testing.T) { checkMetrics(t, bin, dir) })
	t.Run("outputs", func(t *testing.T) { checkOutputFormats(t, bin, dir) })
	t.Run("watch", func(t *testing.T) { checkWatch(t, bin, dir) })
	t.Run("faults", func(t *testing.T) { checkFaults(t, bin, dir) })
	t.Run("stop and completion", func(t *testing.T) { checkStopAndCompletion(t, bin, dir) })
	t.Run("stopped", func(t *testing.T) {
		out, err := ftmctl(t, bin, "pair", "down", "--dir", dir)
		require.NoError(t, err, out)
		for _, args := range [][]string{{"ports"}, {"ckpt", "log"}, {"ckpt", "now", "1"}, {"ru"}, {"ru", "graph"}, {"kv", "get", "a"}, {"metrics"}, {"partition"}, {"slow", "--delay", "1ms"}, {"heal"}} {
			require.Equal(t, "ftmctl: no node of the pair is running (start it with `ftmctl pair up`)",
				oneLineError(t, bin, append(args, "--dir", dir)...), "%v", args)
		}
		require.Contains(t, oneLineError(t, bin, "metrics", "n1", "--dir", dir), "node n1 (pid ")
		var f watchFrame
		stdoutJSON(t, bin, &f, "watch", "--once", "-o", "json", "--dir", dir)
		require.Len(t, f.Nodes, 2)
		require.Equal(t, "not running", f.Nodes[0].Error)
	})
}

// checkOutputFormats: every read command prints YAML that parses into
// what its JSON has, one name per line with -o name, and a wide table;
// ru graph refuses --dot with -o json.
func checkOutputFormats(t *testing.T, bin, dir string) {
	for _, args := range [][]string{{"status"}, {"ps"}, {"stm"}, {"ports"}, {"ckpt", "log"}, {"ru"}, {"ru", "graph"}, {"metrics"}, {"slow", "--delay", "1ms", "--for", "1ms"}} {
		var fromJSON, fromYAML any
		stdoutJSON(t, bin, &fromJSON, append(args, "--dir", dir, "-o", "json")...)
		out, err := ftmctl(t, bin, append(args, "--dir", dir, "-o", "yaml")...)
		require.NoError(t, err, "%v: %s", args, out)
		require.NoError(t, yaml.Unmarshal([]byte(out), &fromYAML), "%v", args)
		require.Equal(t, reflect.TypeOf(fromJSON), reflect.TypeOf(fromYAML), "%v", args)
		names, err := ftmctl(t, bin, append(args, "--dir", dir, "-o", "name")...)
		require.NoError(t, err, "%v: %s", args, names)
		require.Regexp(t, `^(\S+\n)+$`, names, "%v: one name per line", args)
		wide, err := ftmctl(t, bin, append(args, "--dir", dir, "-o", "wide")...)
		require.NoError(t, err, "%v: %s", args, wide)
	}
	names, err := ftmctl(t, bin, "ps", "--dir", dir, "-o", "name")
	require.NoError(t, err)
	require.Equal(t, "n1/1\n", names, "ps -o name prints what rm and wait take")
	status, err := ftmctl(t, bin, "status", "--dir", dir, "-o", "json")
	require.NoError(t, err)
	require.Contains(t, status, `"heartbeat_age_ns": `, "durations in JSON: integer nanoseconds, _ns")
	require.Equal(t, "ftmctl: --dot and -o json conflict: --dot writes Graphviz DOT (drop one)",
		oneLineError(t, bin, "ru", "graph", "--dot", "-o", "json", "--dir", dir))
}

// checkStopAndCompletion: a second task is stopped for good (failed, not
// running, then removable), and completion knows nodes, tasks and units.
func checkStopAndCompletion(t *testing.T, bin, dir string) {
	out, err := ftmctl(t, bin, "run", "primes", "12000000", "--dir", dir)
	require.NoError(t, err, out)
	require.Contains(t, out, "task 2 (primes) started on node n1")
	comp, err := ftmctl(t, bin, "__complete", "stop", "--dir", dir, "")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(comp, "n1/1\nn1/2\n:4\n"), comp)
	comp, err = ftmctl(t, bin, "__complete", "crash", "--dir", dir, "")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(comp, "n1\nn2\n:4\n"), comp)
	comp, err = ftmctl(t, bin, "__complete", "ru", "--dir", dir, "--node", "")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(comp, "n1\nn2\n:4\n"), comp)
	comp, err = ftmctl(t, bin, "__complete", "ckpt", "now", "--dir", dir, "n1/")
	require.NoError(t, err)
	require.Regexp(t, `^n1/1\nn1/2\n(n1/\w+\n)*n1/kv\n`, comp)

	out, err = ftmctl(t, bin, "wait", "protected", "--dir", dir) // the faults before may have cut the link
	require.NoError(t, err, out)
	out, err = ftmctl(t, bin, "stop", "n1/2", "--dir", dir)
	require.NoError(t, err, out)
	require.Equal(t, "task n1/2 (primes, failed) stopped on node n1\n", out)
	recs := psRows(t, bin, dir)
	require.Len(t, recs, 2)
	require.Equal(t, task.StateRunning, recs[0].State, "the other task runs on")
	require.Equal(t, task.StateFailed, recs[1].State)
	require.Equal(t, "task: stopped by the operator", recs[1].Error)
	require.Contains(t, oneLineError(t, bin, "stop", "n1/2", "--dir", dir), "task n1/2 has already ended: only a running task is stopped")
	require.Contains(t, oneLineError(t, bin, "stop", "n1/9", "--dir", dir), "no node of the pair lists task n1/9")
	out, err = ftmctl(t, bin, "rm", "n1/2", "--dir", dir)
	require.NoError(t, err, out)
}

func checkAuth(t *testing.T, bin, dir string) {
	secretPath := filepath.Join(dir, control.SecretFile)
	good, err := os.ReadFile(secretPath)
	require.NoError(t, err)
	defer func() { require.NoError(t, os.WriteFile(secretPath, good, 0o600)) }()

	require.NoError(t, os.WriteFile(secretPath, []byte(hex.EncodeToString([]byte("not the pair's secret"))), 0o600))
	for _, args := range [][]string{{"status"}, {"ps"}, {"stm"}, {"ports"}, {"ckpt", "log"}, {"metrics"}, {"watch", "--once"}, {"slow", "--delay", "1s"},
		{"ru"}, {"ru", "graph", "--dot"}, {"kv", "get", "a"}, {"ckpt", "now", "kv"}} {
		require.Equal(t, "ftmctl: node n1: authentication failed", oneLineError(t, bin, append(args, "--dir", dir)...), "%v", args)
	}
	require.NoError(t, os.Remove(secretPath))
	require.Contains(t, oneLineError(t, bin, "status", "--dir", dir), "node n1: authentication failed (read the pair's secret")
	require.NoError(t, os.WriteFile(secretPath, good, 0o600))
	_, err = ftmctl(t, bin, "status", "--dir", dir)
	require.NoError(t, err, "the right secret is accepted again")
}

func checkPorts(t *testing.T, bin, dir string) {
	waitServers(t, bin, dir, "n1", "n2")
	out, err := ftmctl(t, bin, "ports", "--dir", dir)
	require.NoError(t, err, out)
	require.Regexp(t, `NODE\s+TASK ID\s+TASK\s+NAMES`, out)
	require.Regexp(t, `n1\s+\d+\s+ftmctl-control\s+1\s+1\s+0\s+0\s+0`, out)
	require.Regexp(t, `n2\s+\d+\s+ftmctl-control\s+1\s+1\s+0\s+0\s+0`, out)
	var all []nodeKernelTasks
	stdoutJSON(t, bin, &all, "ports", "--dir", dir, "-o", "json")
	require.Len(t, all, 2)
	for _, n := range all {
		var tasks []string
		for _, kt := range n.Tasks {
			tasks = append(tasks, kt.Name)
		}
		// the control task, and the task of the reliable servers of the node's bank (node/reliable.go)
		require.Equal(t, []string{control.ControlTask, "servers/" + n.Node}, tasks, n.Node)
	}

	out, err = ftmctl(t, bin, "ports", "ftmctl-control", "--node", "n1", "--dir", dir)
	require.NoError(t, err, out)
	require.Regexp(t, `NAME\s+RIGHT\s+RECEIVE\s+SEND REFS`, out)
	require.Regexp(t, `n1\s+ftmctl-control\s+\d+\s+receive\s+yes\s+0\s+no\s+0\s+0`, out)
	require.NotContains(t, out, "n2")
	var one []nodeKernelTasks
	stdoutJSON(t, bin, &one, "ports", "ftmctl-control", "--node", "n2", "--dir", dir, "-o", "json")
	require.Len(t, one, 1)
	require.Equal(t, "n2", one[0].Node)
	require.Equal(t, []portName{{Name: one[0].Tasks[0].Names[0].Name, Type: "receive", Receive: true}}, one[0].Tasks[0].Names)

	require.Contains(t, oneLineError(t, bin, "ports", "1", "--dir", dir), "task 1 is a stable task (primes on n1): stable tasks own no kernel task")
	require.Contains(t, oneLineError(t, bin, "ports", "nosuch", "--dir", dir), `unknown task "nosuch" (kernel tasks: n1:ftmctl-control, n1:servers/n1, n2:ftmctl-control, n2:servers/n2)`)
	require.Contains(t, oneLineError(t, bin, "ports", "--node", "n3", "--dir", dir), `unknown node "n3"`)
	require.Contains(t, oneLineError(t, bin, "ports", "-o", "xml", "--dir", dir), "unknown output format")
}

func checkCkpt(t *testing.T, bin, dir string) {
	es := ckptEntries(t, bin, dir)
	require.NotEmpty(t, es)
	e := es[0]
	require.Equal(t, "n1", e.Node)
	require.Equal(t, "n1", e.Bank)
	require.Equal(t, uint64(1), e.Task)
	require.Equal(t, "primes", e.Program)
	require.Equal(t, "policy", e.Initiator)
	require.GreaterOrEqual(t, e.Count, 1)
	require.Positive(t, e.Pages)
	require.Positive(t, e.Bytes)
	require.Positive(t, e.Duration)
	out, err := ftmctl(t, bin, "ckpt", "log", "--dir", dir)
	require.NoError(t, err, out)
	require.Regexp(t, `TIME\s+NODE\s+TASK\s+PROGRAM\s+RUN\s+INITIATOR\s+N\s+NUMBER\s+PAGES\s+BYTES\s+DURATION`, out)
	require.Regexp(t, `\d\d:\d\d:\d\d\.\d{3}\s+n1\s+n1/1\s+primes\s+0\s+policy\s+\d+\s+\d+\s+\d+\s+[\d.]+ (B|KiB|MiB)\s+\S+s`, out)

	out, err = ftmctl(t, bin, "ckpt", "now", "1", "--dir", dir)
	require.NoError(t, err, out)
	require.Regexp(t, `^task n1/1 \(primes\) on node n1: checkpoint \d+ of this run, \d+ pages, [\d.]+ (B|KiB|MiB), task stopped \S+; taken \S+ after the request\n$`, out)
	var rep ckptNowReply
	stdoutJSON(t, bin, &rep, "ckpt", "now", "n1/1", "--dir", dir, "-o", "json")
	require.True(t, rep.Awaited)
	require.Equal(t, "n1/1", taskKey(rep.Bank, rep.Task))
	require.Greater(t, rep.Number, e.Number)
	require.Positive(t, rep.Waited)
	var awaited bool
	for _, x := range ckptEntries(t, bin, dir) {
		awaited = awaited || (x.Seq == rep.Seq && x.Awaited)
	}
	require.True(t, awaited, "the log marks the checkpoint ckpt now waited for")
	out, err = ftmctl(t, bin, "ckpt", "log", "--node", "n1", "--dir", dir)
	require.NoError(t, err, out)
	require.Regexp(t, `n1/1\s+primes\s+0\s+ckpt now\s`, out)

	require.Contains(t, oneLineError(t, bin, "ckpt", "now", "99", "--dir", dir), `unknown task "99" (running stable tasks: n1/1)`)
	require.Contains(t, oneLineError(t, bin, "ckpt", "now", "n2/1", "--dir", dir), `unknown task "n2/1"`)
	require.Contains(t, oneLineError(t, bin, "ckpt", "now", "one", "--dir", dir), `unknown task or recovery unit "one" (recovery units: n1/app, n1/files, n1/kv, n1/screen, n1/task1, n2/app, n2/files, n2/kv, n2/screen, pager/n1/task1/heap, pager/n1/task1/primes, pager/n1/task1/progress)`)
	require.Contains(t, oneLineError(t, bin, "ckpt", "now", "--dir", dir), "accepts 1 arg")
}

// checkMetrics: ftmctl metrics in each output format, the same metrics
// over HTTP, and its one-line errors.
func checkMetrics(t *testing.T, bin, dir string) {
	checkPromMetrics(t, bin, dir)
	checkMetricsJSON(t, bin, dir)
	checkMetricsTable(t, bin, dir)
	checkMetricsOverHTTP(t, bin, dir)
	checkMetricsErrors(t, bin, dir)
}

// checkPromMetrics: one node's metrics in the Prometheus text format,
// then both nodes', each under a header.
func checkPromMetrics(t *testing.T, bin, dir string) {
	out, err := ftmctl(t, bin, "metrics", "n1", "--dir", dir)
	require.NoError(t, err, out)
	require.Contains(t, out, "# TYPE ftm_checkpoint_duration_seconds histogram")
	require.Contains(t, out, `ftm_node_info{node="n1",partner="n2",version="dev"} 1`)
	require.Contains(t, out, "ftm_pair_link_up 1\n")
	require.Contains(t, out, `ftm_stm_bank_info{bank="n1",role="own"} 1`)
	require.Contains(t, out, `ftm_stm_bank_info{bank="n2",role="backup"} 1`)
	require.Contains(t, out, `ftm_tasks{state="running"} 1`)
	require.Regexp(t, `ftm_checkpoints_total [1-9]`, out)
	require.Regexp(t, `ftm_stm_bank_bytes\{bank="n1"\} [1-9]`, out)
	require.Equal(t, 8, ruUnitsOf(t, out, "n1"), "n1/app, the registered servers n1/kv, n1/screen and n1/files, and the sieve's four units")
	require.Contains(t, out, `ftm_ru_incarnation{unit="n1/kv"} `)
	require.Contains(t, out, "# TYPE ftm_ru_protocol_messages_total counter")
	require.Regexp(t, `ftm_pair_heartbeat_age_seconds \d`, out)

	checkExposition(t, out)
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "ftm_stm_commit_duration_seconds",
		"ftm_stm_state_transfer_duration_seconds", "ftm_pair_takeover_duration_seconds", "ftm_control_request_duration_seconds",
		"ftm_stm_bank_commits_refused_total", "ftm_stm_bank_unprotected"} {
		require.Contains(t, out, "# TYPE "+name+" ", "ftmctl metrics n1 has %s", name)
	}

	both, err := ftmctl(t, bin, "metrics", "--dir", dir)
	require.NoError(t, err, both)
	require.Contains(t, both, `ftm_pair_link_up{node="n1"} 1`)
	require.Contains(t, both, `ftm_pair_link_up{node="n2"} 1`)
	require.Equal(t, 1, strings.Count(both, "# TYPE ftm_pair_link_up "), "one exposition: each family once")
	require.Contains(t, both, `ftm_node_info{node="n2",partner="n1",version="dev"} 1`, "a family's own node label is kept")
	checkExposition(t, both)
}

// checkExposition: text is one valid exposition with no lint problem, as
// promtool check metrics says (and promtool itself when installed).
func checkExposition(t *testing.T, text string) {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	_, err := p.TextToMetricFamilies(strings.NewReader(text))
	require.NoError(t, err)
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	require.NoError(t, err)
	require.Empty(t, problems)
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool is not installed: checked with promlint, its linter")
		return
	}
	c := exec.Command(promtool, "check", "metrics")
	c.Stdin = strings.NewReader(text)
	out, err := c.CombinedOutput()
	require.NoError(t, err, "promtool check metrics: %s", out)
}

// checkMetricsJSON: -o json gives each node's metric families.
func checkMetricsJSON(t *testing.T, bin, dir string) {
	var rows []nodeMetricsRow
	stdoutJSON(t, bin, &rows, "metrics", "--dir", dir, "-o", "json")
	require.Len(t, rows, 2)
	fam := func(node, name string) metricFamily {
		for _, r := range rows {
			for _, f := range r.Families {
				if r.Node == node && f.Name == name {
					return f
				}
			}
		}
		t.Fatalf("no %s on %s", name, node)
		return metricFamily{}
	}
	require.Equal(t, "HISTOGRAM", fam("n1", "ftm_checkpoint_duration_seconds").Type)
	require.Positive(t, fam("n1", "ftm_checkpoint_duration_seconds").Samples[0].Count)
	require.Equal(t, 1.0, fam("n2", "ftm_pair_link_up").Samples[0].Value)
	require.Equal(t, 0.0, fam("n2", "ftm_checkpoints_total").Samples[0].Value, "n2 runs no task")
}

// checkMetricsTable: -o table gives one row per node and metric.
func checkMetricsTable(t *testing.T, bin, dir string) {
	table, err := ftmctl(t, bin, "metrics", "--dir", dir, "-o", "table")
	require.NoError(t, err, table)
	require.Regexp(t, `NODE\s+METRIC\s+LABELS\s+VALUE`, table)
	require.Regexp(t, `n2\s+ftm_pair_link_up\s+-\s+1\n`, table)
	require.Regexp(t, `n1\s+ftm_checkpoint_duration_seconds\s+-\s+count [1-9]\d*, sum `, table)
}

// checkMetricsOverHTTP: the same over HTTP, on the loopback address
// each node chose.
func checkMetricsOverHTTP(t *testing.T, bin, dir string) {
	rs := statusRows(t, bin, dir)
	for _, r := range rs {
		require.NotNil(t, r.Status, r.Node)
		require.Regexp(t, `^127\.0\.0\.1:\d+$`, r.Status.MetricsAddr)
		resp, err := http.Get("http://" + r.Status.MetricsAddr + "/metrics")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, string(body), `ftm_node_info{node="`+r.Node+`"`)
		checkExposition(t, string(body))
	}
}

// checkMetricsErrors: an unknown node or format, and a metrics address
// off the loopback, fail with one line.
func checkMetricsErrors(t *testing.T, bin, dir string) {
	require.Contains(t, oneLineError(t, bin, "metrics", "n3", "--dir", dir), `unknown node "n3"`)
	require.Contains(t, oneLineError(t, bin, "metrics", "-o", "xml", "--dir", dir), `unknown output format "xml" (want prom or table or wide or json or yaml or name)`)
	require.Contains(t, oneLineError(t, bin, "pair", "up", "--metrics-addr", "0.0.0.0:0", "--dir", filepath.Join(t.TempDir(), "p")), "is not a loopback address")
}

func checkWatch(t *testing.T, bin, dir string) {
	out, err := ftmctl(t, bin, "watch", "--once", "--dir", dir)
	require.NoError(t, err, out)
	require.Regexp(t, `^ftmctl watch  \d\d:\d\d:\d\d  pair `, out)
	require.Regexp(t, `n1\s+running\s+up\s+\S+\s+yes \(attached\)\s+backup held\s+0\n`, out)
	require.Contains(t, out, "\nTASKS\n")
	require.Regexp(t, `n1\s+n1\s+1\s+primes\s+running`, out)
	require.Contains(t, out, "\nPROGRESS\n")
	require.Regexp(t, `\[[#!-]{24}\] \S+\s+task n1/1 \(primes\) on n1: since its last checkpoint`, out)
	require.Contains(t, out, "\nLATEST CHECKPOINTS\n")
	require.Regexp(t, `n1\s+n1/1\s+primes\s+0\s+policy`, out)
	require.Contains(t, out, "\nRECOVERY UNITS\n")
	require.Regexp(t, `n2\s+n2/kv\s+n2/kv\.\d+\s+running`, out)

	var f watchFrame
	stdoutJSON(t, bin, &f, "watch", "--once", "--dir", dir, "-o", "json")
	require.Len(t, f.Nodes, 2)
	require.Len(t, f.Tasks, 1)
	require.NotEmpty(t, f.Checkpoints)
	require.LessOrEqual(t, len(f.Checkpoints), watchCheckpoints)
	require.Len(t, f.Progress, 2)
	require.Equal(t, "task", f.Progress[0].Activity)
	require.Positive(t, f.Progress[0].Total, "the task's done/total")
	require.Equal(t, "checkpoint", f.Progress[1].Activity)
	require.Equal(t, taskPolicy.Every, f.Progress[1].Of)

	// Without a terminal (pipes), watch prints one plain snapshot and
	// says so on stderr, exit 0 (the live view: TestWatchInTmux).
	c := exec.Command(bin, "watch", "--dir", dir, "--interval", "100ms")
	c.Stdin = strings.NewReader("")
	var stderr strings.Builder
	c.Stderr = &stderr
	screen, err := c.Output()
	require.NoError(t, err, stderr.String())
	require.Contains(t, string(screen), "\nEVENTS\n")
	require.NotContains(t, string(screen), "\x1b[", "no escape sequences in a pipe")
	require.Equal(t, "note: not a terminal: one snapshot printed (watch --once does the same without this note)\n", stderr.String())
	require.Contains(t, oneLineError(t, bin, "watch", "-o", "json", "--dir", dir), "-o json needs --once")
	require.Contains(t, oneLineError(t, bin, "watch", "--once", "--dir", filepath.Join(dir, "nothing")), "no pair is running there")
}

func checkFaults(t *testing.T, bin, dir string) {
	var rows []faultRow
	stdoutJSON(t, bin, &rows, "slow", "--delay", "20ms", "--for", "0", "--dir", dir, "-o", "json")
	require.Len(t, rows, 2)
	for _, r := range rows {
		require.Equal(t, 20*time.Millisecond, r.Faults.Delay)
		require.False(t, r.Faults.Partitioned)
	}
	table, err := ftmctl(t, bin, "status", "--dir", dir)
	require.NoError(t, err, table)
	require.Contains(t, table, "fault: n1 delays its frames by 20ms until healed\n")
	out, err := ftmctl(t, bin, "metrics", "n2", "--dir", dir)
	require.NoError(t, err)
	require.Contains(t, out, "ftm_fault_link_delay_seconds 0.02\n")
	out, err = ftmctl(t, bin, "ckpt", "now", "1", "--dir", dir)
	require.NoError(t, err, "the task still checkpoints through a slow link: %s", out)

	out, err = ftmctl(t, bin, "heal", "--dir", dir)
	require.NoError(t, err, out)
	require.Regexp(t, `n1\s+no\s+-\s+-\s+-`, out)

	out, err = ftmctl(t, bin, "partition", "--for", "0", "--node", "n2", "--dir", dir)
	require.NoError(t, err, out)
	require.Regexp(t, `NODE\s+PARTITIONED\s+FOR\s+DELAY\s+FOR\n\s*n2\s+yes\s+until healed\s+-\s+-\n$`, out)
	rs := statusRows(t, bin, dir)
	require.True(t, rs[1].Status.Faults.Partitioned)
	require.False(t, rs[0].Status.Faults.Partitioned)
	_, err = ftmctl(t, bin, "heal", "--dir", dir)
	require.NoError(t, err)

	// A partition with a duration ends by itself, and the pair is linked
	// again (after a takeover if it outlasted the failure detector).
	out, err = ftmctl(t, bin, "partition", "--for", "200ms", "--dir", dir)
	require.NoError(t, err, out)
	require.Regexp(t, `n1\s+yes\s+\d+ms`, out)
	eventually(t, "the partition ended and the nodes are linked", func() bool {
		rs := statusRows(t, bin, dir)
		return linked(rs, "n1") && linked(rs, "n2") && !rs[0].Status.Faults.Partitioned && !rs[1].Status.Faults.Partitioned
	})

	require.Contains(t, oneLineError(t, bin, "slow", "--dir", dir), `required flag(s) "delay" not set`)
	require.Contains(t, oneLineError(t, bin, "slow", "--delay", "-1s", "--dir", dir), "--delay must be positive")
	require.Contains(t, oneLineError(t, bin, "partition", "--for", "-1s", "--dir", dir), "--for must not be negative")
	require.Contains(t, oneLineError(t, bin, "partition", "--node", "n3", "--dir", dir), `unknown node "n3"`)

	// A pair started without --allow-faults refuses them.
	st, err := loadPair(dir)
	require.NoError(t, err)
	st.AllowFaults = false
	off := t.TempDir()
	require.NoError(t, savePair(off, st))
	require.Contains(t, oneLineError(t, bin, "partition", "--dir", off), "fault injection is off for this pair")
	require.Contains(t, oneLineError(t, bin, "slow", "--delay", "1ms", "--dir", off), "fault injection is off for this pair")
}

func TestMetricsAddrMustBeLoopback(t *testing.T) {
	for _, ok := range []string{"", "127.0.0.1:0", "[::1]:9100", "localhost:9100", "127.0.0.2:80"} {
		require.NoError(t, checkLoopback(ok), ok)
	}
	for _, bad := range []string{"0.0.0.0:0", ":9100", "10.0.0.1:80", "example.com:80", "127.0.0.1"} {
		require.Error(t, checkLoopback(bad), bad)
	}
	a, err := nthAddr("127.0.0.1:9100", 1)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9101", a)
	a, err = nthAddr("127.0.0.1:0", 1)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:0", a)
}

func TestProgressBar(t *testing.T) {
	now := time.Now()
	require.Equal(t, "[#####-----]", bar(progressBar{Elapsed: 250 * time.Millisecond, Of: 500 * time.Millisecond}, now, 10))
	require.Equal(t, "[#########!]", bar(progressBar{Elapsed: 2 * time.Second, Of: 500 * time.Millisecond, Overdue: true}, now, 10))
	require.Regexp(t, regexp.MustCompile(`^\[-*#{1,4}-*#{0,3}\]$`), bar(progressBar{Elapsed: time.Second}, now, 10))
}
