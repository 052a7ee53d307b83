package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/task"
)

// takeoverFrame is a frame right after n1 died: n2 took its bank over and
// runs its task, half done.
func takeoverFrame(now time.Time) watchFrame {
	rows := statusSample()
	rows[0].Status.STM.LastTakeover.At = now.Add(-time.Second)
	rows[0].Status.LostAt, rows[0].Status.LastCause = now.Add(-2*time.Second), "heartbeat: link to partner lost: link: closed: EOF"
	f := watchFrame{Time: now, Dir: "/tmp/pair", Nodes: rows,
		Tasks: []task.Record{{ID: 1, Bank: "beta-node", Node: "alpha-node", Program: "primes", State: task.StateRunning, Restarts: 1,
			Since: now.Add(-time.Second), Stats: task.Stats{Checkpoints: 4, LastProgress: 600, Total: 1200}}},
		Checkpoints: []ckptEntry{
			{Time: now.Add(-2 * time.Second), Node: "alpha-node", Bank: "beta-node", Task: 1, Program: "primes", Run: 1, Progress: 400},
			{Time: now.Add(-time.Second), Node: "alpha-node", Bank: "beta-node", Task: 1, Program: "primes", Run: 1, Progress: 600}},
	}
	f.Progress = append(taskBars(f, f.Checkpoints), progressBars(f)...)
	f.Events = eventsOf(f)
	return f
}

// At 80x24 the view keeps the node table with BACKED UP and TAKEOVERS,
// the task's done/total bar with its rate and ETA, and the takeover in
// the timeline; a dead node is red, a live one green.
func TestWatchViewFits80x24(t *testing.T) {
	f := takeoverFrame(time.Now())
	view := renderView(f, viewOpts{every: time.Second, width: 80, height: 24})
	lines := strings.Split(strings.TrimRight(view, "\n"), "\n")
	require.LessOrEqual(t, len(lines), 24)
	for _, l := range lines {
		require.LessOrEqual(t, len([]rune(l)), 80, "%q", l)
	}
	require.Regexp(t, `BACKED UP\s+PARTNER BANK\s+TAKEOVERS`, view)
	require.Contains(t, view, "[==========----------]  50% 600/1200 200/s ETA 3s  task beta-node/1 (primes)")
	require.Contains(t, view, "took over bank beta-node in 1.026s")
	require.Contains(t, view, "alpha-node lost its link to beta-node: heartbeat")
	require.Regexp(t, `\d\d:\d\d:\d\d  beta-node not running`, view)

	coloured := renderView(f, viewOpts{every: time.Second, width: 80, height: 24, colour: true})
	require.Regexp(t, `\x1b\[31mbeta-node\s+not running`, coloured)
	require.NotContains(t, renderFrame(f, time.Second), "\x1b[", "--once prints no colour")
	f.Nodes[0].Status.Linked = true
	f.Nodes[0].Status.STM.Banks[0].CommitsRefused, f.Nodes[0].Status.STM.Banks[0].Mirror = false, pair.MirrorAttached
	require.Regexp(t, `\x1b\[32malpha-node\s+running\s+up`, renderView(f, viewOpts{colour: true}))
}

// The live view in real tmux at 80x24, after a crash: the takeover is an
// event with its duration, the surviving task has its progress bar, and
// BACKED UP and TAKEOVERS are on screen; the keys select a node or a task
// and open its detail pane (driveWatchKeys). Without a terminal, watch
// prints one snapshot.
func TestWatchInTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed")
	}
	bin, dir, _ := startPair(t)
	out, err := ftmctl(t, bin, "run", "primes", "16000000", "--dir", dir)
	require.NoError(t, err, out)
	eventually(t, "the task checkpointed twice", func() bool {
		recs := psRows(t, bin, dir)
		return len(recs) == 1 && recs[0].Stats.Checkpoints >= 2
	})
	out, err = ftmctl(t, bin, "crash", "n1", "--dir", dir)
	require.NoError(t, err, out)

	snap, err := ftmctl(t, bin, "watch", "--dir", dir)
	require.NoError(t, err, "no terminal: one snapshot, exit 0: %s", snap)
	require.Contains(t, snap, "\nEVENTS\n")

	sock := filepath.Join(t.TempDir(), "tmux.sock")
	session := exec.Command(tmux, "-S", sock, "new-session", "-d", "-x", "80", "-y", "24", bin, "watch", "--dir", dir, "--interval", "200ms")
	session.Env = append(os.Environ(), "TERM=xterm-256color")
	require.NoError(t, session.Run())
	defer func() { _ = exec.Command(tmux, "-S", sock, "kill-server").Run() }()
	capture := func() string {
		b, _ := exec.Command(tmux, "-S", sock, "capture-pane", "-p").Output()
		return string(b)
	}
	var pane string
	eventually(t, "the pane shows the takeover and the dead node", func() bool {
		pane = capture()
		return strings.Contains(pane, "took over bank n1 in") && regexp.MustCompile(`n1\s+not running`).MatchString(pane)
	})
	require.Contains(t, pane, "BACKED UP", pane)
	require.Contains(t, pane, "TAKEOVERS", pane)

	out, err = ftmctl(t, bin, "pair", "up", "--dir", dir)
	require.NoError(t, err, out)
	eventually(t, "the pane shows the task's done/total bar once n1 backs its bank up", func() bool {
		pane = capture()
		return regexp.MustCompile(`\[=*-*\]\s+\d+% \d+/\d+ \d+/s ETA`).MatchString(pane) && strings.Contains(pane, "took over bank n1 in")
	})
	require.Contains(t, pane, "BACKED UP", pane)
	require.Contains(t, pane, "TAKEOVERS", pane)
	for _, l := range strings.Split(pane, "\n") {
		require.LessOrEqual(t, len([]rune(l)), 80)
	}
	driveWatchKeys(t, watchPane{tmux: tmux, sock: sock, capture: capture}, takeoverID(t, bin, dir))
	require.NoError(t, exec.Command(tmux, "-S", sock, "send-keys", "q").Run())
	eventually(t, "q quits watch (its window, the session's only one, closes)", func() bool {
		return exec.Command(tmux, "-S", sock, "has-session").Run() != nil
	})
}

// watchPane is watch running in tmux: keys in, the screen out.
type watchPane struct {
	tmux, sock string
	capture    func() string
}

// send types tmux key names (Tab, BTab, Enter, Escape).
func (p watchPane) send(t *testing.T, keys ...string) {
	t.Helper()
	require.NoError(t, exec.Command(p.tmux, append([]string{"-S", p.sock, "send-keys"}, keys...)...).Run())
}

// waitFor waits until the screen satisfies cond and returns it.
func (p watchPane) waitFor(t *testing.T, what string, cond func(string) bool) string {
	t.Helper()
	var pane string
	eventually(t, what, func() bool {
		pane = p.capture()
		return cond(pane)
	})
	for _, l := range strings.Split(pane, "\n") {
		require.LessOrEqual(t, len([]rune(l)), 80, "%q", l)
	}
	require.LessOrEqual(t, len(strings.Split(strings.TrimRight(pane, "\n"), "\n")), 24)
	return pane
}

// driveWatchKeys: the help line names the keys; Tab selects n1 then n2,
// Enter opens n2's pane (its banks and the takeover with its log id), Tab
// moves the open pane to the task (its progress, checkpoints, restarts and
// recovery units), shift+Tab back to n2, Escape closes the pane without
// quitting.
func driveWatchKeys(t *testing.T, p watchPane, id string) {
	p.waitFor(t, "the help line names the keys", func(s string) bool { return strings.Contains(s, "tab/up/down select  enter details") })
	p.send(t, "Tab")
	p.waitFor(t, "Tab selects n1", func(s string) bool { return strings.Contains(s, "[node n1]") })
	p.send(t, "Tab", "Enter")
	pane := p.waitFor(t, "Enter opens n2's pane", func(s string) bool { return strings.Contains(s, "\nNODE n2\n") })
	require.Contains(t, pane, "[node n2]")
	require.Regexp(t, `bank n1 taken-over: \d+ objs, seq \d+, epoch \d+, mirror attached, commits ok`, pane)
	require.Contains(t, pane, "takeover "+id+": bank n1 at", "the pane names the takeover as the log does")
	p.send(t, "Tab")
	pane = p.waitFor(t, "Tab moves the pane to the task", func(s string) bool { return strings.Contains(s, "\nTASK n1/1\n") })
	require.Regexp(t, `primes on n2, running since \d\d:\d\d:\d\d, restarts 1`, pane)
	require.Regexp(t, `progress \[=*-*\]\s+\d+% \d+/\d+`, pane)
	require.Contains(t, pane, "recovery units: n1/task1 (RU")
	p.send(t, "BTab")
	p.waitFor(t, "shift+Tab goes back to n2", func(s string) bool { return strings.Contains(s, "\nNODE n2\n") })
	p.send(t, "Escape")
	pane = p.waitFor(t, "Escape closes the pane", func(s string) bool { return !strings.Contains(s, "\nNODE n2\n") && strings.Contains(s, "[node n2]") })
	require.Contains(t, pane, "EVENTS", "watch still runs")
}

// takeoverID is the id of n2's last takeover, as status reports it.
func takeoverID(t *testing.T, bin, dir string) string {
	t.Helper()
	rows := statusRows(t, bin, dir)
	require.NotNil(t, rows[1].Status, "n2 answers")
	require.NotNil(t, rows[1].Status.STM.LastTakeover, "n2 took over")
	id := rows[1].Status.STM.LastTakeover.ID
	require.Regexp(t, `^[0-9a-f]{8}$`, id)
	return id
}
