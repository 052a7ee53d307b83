package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/servers/pager"
	"github.com/ftm-in-go/ftm/task"
)

// tmuxPane drives a terminal: keys in with send-keys, the screen out with
// capture-pane.
type tmuxPane struct {
	t      *testing.T
	socket string
}

func (p tmuxPane) run(args ...string) (string, error) {
	out, err := exec.Command("tmux", append([]string{"-L", p.socket}, args...)...).CombinedOutput()
	return string(out), err
}

func (p tmuxPane) screen() string {
	out, _ := p.run("capture-pane", "-p", "-t", "ed")
	return out
}

// keys sends tmux key names (C-x, M->) and literal text (-l).
func (p tmuxPane) keys(names ...string) {
	_, err := p.run(append([]string{"send-keys", "-t", "ed"}, names...)...)
	require.NoError(p.t, err)
}

func (p tmuxPane) text(s string) {
	_, err := p.run("send-keys", "-t", "ed", "-l", s)
	require.NoError(p.t, err)
}

func (p tmuxPane) waitFor(what string, cond func(screen string) bool) {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond(p.screen()) {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s; the terminal shows:\n%s", what, p.screen())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p tmuxPane) waitLine(y int, want string) {
	p.t.Helper()
	p.waitFor("line "+want, func(s string) bool {
		lines := strings.Split(s, "\n")
		return y < len(lines) && strings.TrimRight(lines[y], " ") == want
	})
}

func TestAttachWithoutSessionSaysHowToStartOne(t *testing.T) {
	t.Parallel() // real processes in a directory of its own, on free ports; no CPU-bound workload
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin, dir, _ := startPair(t)
	out, err := ftmctl(t, bin, "attach", "--dir", dir)
	require.Error(t, err)
	require.Contains(t, out, "no editing session is running (start one with ftmctl edit FILE)")
}

// editSession is ftmctl edit running in tmux on a real pair: the pair,
// the file edited, and the pane showing the editor. Its methods are the
// steps of the crash scenario, run in order.
type editSession struct {
	t    *testing.T
	bin  string
	dir  string
	file string
	p    tmuxPane
}

// TestEditSurvivesSIGKILLInTmux drives the real editor through a real
// terminal: ftmctl edit in tmux on a real pair; text is typed, the node
// running the editor is killed with SIGKILL right after its screen echoed
// the last keys, and the screen comes back on the survivor with every
// echoed keystroke, once; editing goes on, the killed node is restarted
// (so commits have a backup again), the file is saved and is complete on
// disk; then the node the editor moved to is killed too and it comes back
// on the first; and C-x C-c ends the session.
// Reference: ftm-lessons.txt §6.4 (the editor survives its node's crash).
func TestEditSurvivesSIGKILLInTmux(t *testing.T) {
	skipWithoutProcessesOrTmux(t)
	bin, dir, _ := startPair(t)
	e := startEditSession(t, bin, dir)

	n1PID := e.echoedKeysSurviveSIGKILLOfN1()
	e.restartedN1ProtectsTheSave(n1PID)
	e.killOfN2BringsTheEditorBackOnN1()
	e.quitEndsTheSession()
}

// startEditSession starts ftmctl edit on a one-line file in tmux, once
// n2 backs up n1's bank, and waits until the editor shows the file.
func startEditSession(t *testing.T, bin, dir string) editSession {
	eventually(t, "n2 holds n1's backup", func() bool { return banks(statusRows(t, bin, dir), "n2")["n1"] == "backup/ready" })
	file := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(file, []byte("first line\n"), 0o644))
	p := tmuxPane{t: t, socket: "ftmedit" + filepath.Base(t.TempDir())}
	_, err := p.run("new-session", "-d", "-s", "ed", "-x", "70", "-y", "12", bin+" edit --dir "+dir+" "+file+"; sleep 60")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = p.run("kill-server") })
	p.waitFor("the editor shows the file", func(s string) bool { return strings.Contains(s, "uEmacs: "+file) })
	p.waitLine(0, "first line")
	return editSession{t: t, bin: bin, dir: dir, file: file, p: p}
}

// echoedKeysSurviveSIGKILLOfN1 kills n1, which runs the editor, right
// after the screen echoed the typed text; typing goes on on the survivor
// and no keystroke is applied twice. It returns the killed n1's pid.
func (e editSession) echoedKeysSurviveSIGKILLOfN1() (n1PID int) {
	t, dir, p := e.t, e.dir, e.p
	p.keys("M->")
	p.text("typed before")
	p.waitLine(1, "typed before")
	p.text(" the crash")
	p.waitLine(1, "typed before the crash") // echoed: now it must survive
	st, err := loadPair(dir)
	require.NoError(t, err)
	n1, err := st.Node("n1")
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(n1.PID, syscall.SIGKILL))
	p.text("; after")
	p.waitLine(1, "typed before the crash; after")
	require.NotContains(t, p.screen(), "crash crash", "no keystroke applied twice")
	return n1.PID
}

// restartedN1ProtectsTheSave restarts the killed n1, which backs up its
// old bank again, and saves: the file on disk holds all the text.
func (e editSession) restartedN1ProtectsTheSave(n1PID int) {
	t, bin, dir, p, file := e.t, e.bin, e.dir, e.p, e.file
	eventually(t, "n1 is gone", func() bool { return !alive(n1PID) })
	out, err := ftmctl(t, bin, "pair", "up", "--dir", dir)
	require.NoError(t, err, out)
	eventually(t, "n1 rejoins and backs up its old bank", func() bool {
		return banks(statusRows(t, bin, dir), "n1")["n1"] == "backup/ready"
	})
	p.keys("C-x", "C-s")
	p.waitFor("the save", func(s string) bool { return strings.Contains(s, "Wrote 40 characters to ") })
	got, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, "first line\ntyped before the crash; after", string(got))
}

// killOfN2BringsTheEditorBackOnN1: the editor now runs on n2; kill that
// one too: it comes back on n1, n2 is restarted as its backup, and a
// second save holds the text typed around this crash as well.
func (e editSession) killOfN2BringsTheEditorBackOnN1() {
	t, bin, dir, p, file := e.t, e.bin, e.dir, e.p, e.file
	st, err := loadPair(dir)
	require.NoError(t, err)
	n2, err := st.Node("n2")
	require.NoError(t, err)
	p.text(" and")
	p.waitLine(1, "typed before the crash; after and")
	require.NoError(t, syscall.Kill(n2.PID, syscall.SIGKILL))
	p.text(" again")
	p.waitLine(1, "typed before the crash; after and again")
	eventually(t, "n2 is gone", func() bool { return !alive(n2.PID) })
	out, err := ftmctl(t, bin, "pair", "up", "--dir", dir)
	require.NoError(t, err, out)
	eventually(t, "n2 rejoins and backs up the editor's bank", func() bool {
		return banks(statusRows(t, bin, dir), "n2")["n1"] == "backup/ready"
	})
	p.keys("C-x", "C-s")
	p.waitFor("the second save", func(s string) bool { return strings.Contains(s, "Wrote 50 characters to ") })
	got, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, "first line\ntyped before the crash; after and again", string(got))
}

// quitEndsTheSession: C-x C-c quits the editor and its screen is gone.
func (e editSession) quitEndsTheSession() {
	t, p := e.t, e.p
	p.keys("C-x", "C-c")
	p.waitFor("the editor to quit", func(s string) bool { return !strings.Contains(s, "uEmacs") })
	time.Sleep(100 * time.Millisecond)
	require.NotContains(t, p.screen(), "typed before")
}

// TestDetachRestoresTheTerminalAndReattach: C-] leaves ftmctl edit with
// the terminal back in cooked mode and the editor running; ftmctl attach
// (no session named: the only one) redraws it, and editing goes on.
func TestDetachRestoresTheTerminalAndReattach(t *testing.T) {
	skipWithoutProcessesOrTmux(t)
	bin, dir, _ := startPair(t)
	eventually(t, "n2 holds n1's backup", func() bool { return banks(statusRows(t, bin, dir), "n2")["n1"] == "backup/ready" })
	tmp := t.TempDir()
	file, modes := filepath.Join(tmp, "d.txt"), filepath.Join(tmp, "stty")
	p := tmuxPane{t: t, socket: "ftmdetach" + filepath.Base(tmp)}
	cmd := bin + " edit --dir " + dir + " " + file + "; stty -a > " + modes + "; " + bin + " attach --dir " + dir + "; sleep 60"
	_, err := p.run("new-session", "-d", "-s", "ed", "-x", "70", "-y", "10", cmd)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = p.run("kill-server") })
	p.waitFor("the editor", func(s string) bool { return strings.Contains(s, "uEmacs: ") })
	p.text("kept")
	p.waitLine(0, "kept")
	p.keys("C-]")
	eventually(t, "the terminal modes after the detach", func() bool {
		b, err := os.ReadFile(modes)
		return err == nil && len(b) > 0
	})
	b, err := os.ReadFile(modes)
	require.NoError(t, err)
	require.Regexp(t, `(^|\s)icanon(\s|$)`, string(b), "cooked mode again")
	require.Regexp(t, `(^|\s)echo(\s|$)`, string(b))
	p.waitLine(0, "kept") // attach redrew the screen
	p.text(" on")
	p.waitLine(0, "kept on")
	p.keys("C-x", "C-s")
	p.waitFor("the save", func(s string) bool { return strings.Contains(s, "Wrote 7 characters") })
	p.keys("C-x", "C-c")
	p.waitFor("the editor to quit", func(s string) bool { return !strings.Contains(s, "uEmacs") })
}

// primaryOf returns the node holding bank as primary, its own or taken
// over ("" if none answers).
func primaryOf(t *testing.T, bin, dir, bank string) string {
	for _, node := range []string{"n1", "n2"} {
		role, _, _ := strings.Cut(banks(statusRows(t, bin, dir), node)[bank], "/")
		if role == pair.RoleOwn || role == pair.RoleTakenOver {
			return node
		}
	}
	return ""
}

// TestEditKillLoopInTmux (FTM_SOAK=1): words typed in a real terminal
// while the node running the editor is killed with SIGKILL at random
// moments, ten times, each time restarted to protect the bank again; the
// saved file holds every word typed, each once, in order.
func TestEditKillLoopInTmux(t *testing.T) {
	if os.Getenv("FTM_SOAK") == "" {
		t.Skip("soak test: FTM_SOAK=1")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (the Makefile installs it): " + err.Error())
	}
	bin, dir, _ := startPair(t)
	eventually(t, "n2 holds n1's backup", func() bool { return banks(statusRows(t, bin, dir), "n2")["n1"] == "backup/ready" })
	file := filepath.Join(t.TempDir(), "loop.txt")
	p := tmuxPane{t: t, socket: "ftmloop" + filepath.Base(t.TempDir())}
	_, err := p.run("new-session", "-d", "-s", "ed", "-x", "70", "-y", "12", bin+" edit --dir "+dir+" "+file+"; sleep 120")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = p.run("kill-server") })
	p.waitFor("the editor", func(s string) bool { return strings.Contains(s, "uEmacs: ") })
	var want strings.Builder
	for round := 0; round < 10; round++ {
		word := fmt.Sprintf("word%d-", round)
		for _, c := range word {
			p.text(string(c))
		}
		want.WriteString(word)
		time.Sleep(time.Duration(round%4) * 7 * time.Millisecond)
		victim := primaryOf(t, bin, dir, "n1")
		require.NotEmpty(t, victim)
		st, err := loadPair(dir)
		require.NoError(t, err)
		n, err := st.Node(victim)
		require.NoError(t, err)
		require.NoError(t, syscall.Kill(n.PID, syscall.SIGKILL))
		p.text("+")
		want.WriteString("+")
		eventually(t, "the killed node is gone", func() bool { return !alive(n.PID) })
		out, err := ftmctl(t, bin, "pair", "up", "--dir", dir)
		require.NoError(t, err, out)
		eventually(t, "the restarted node backs up the editor's bank", func() bool {
			return banks(statusRows(t, bin, dir), victim)["n1"] == "backup/ready"
		})
	}
	p.keys("C-x", "C-s")
	p.waitFor("the save", func(s string) bool { return strings.Contains(s, "Wrote ") })
	got, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, want.String(), string(got))
}

// Reference: §6.1, with real processes — while ftmctl edit runs on a
// pair, `ftmctl ru` shows the editor as five recovery units on the node
// running it: the editor task's RU, its three segments (the emacs arena,
// the input journal, the heap) and the screen server n1/screen; the text
// typed makes the editor's RU depend on the screen's, and a checkpoint
// commits the screen's RU with the editor's.
func TestEditorIsFiveRUs(t *testing.T) {
	skipWithoutProcessesOrTmux(t)
	bin, dir, _ := startPair(t)
	e := startEditSession(t, bin, dir)
	e.p.keys("M->")
	e.p.text("five units")
	e.p.waitLine(1, "five units")
	recs := psRows(t, e.bin, e.dir)
	require.Len(t, recs, 1)
	require.Equal(t, "edit", recs[0].Program)
	ed := task.UnitName(recs[0].Bank, recs[0].ID)
	units := []string{ed, pager.UnitName(ed, "text"), pager.UnitName(ed, "journal"), pager.UnitName(ed, task.HeapSegment), "n1/screen"}
	eventually(t, "ru lists the editor's five units on n1, the screen's RU committed with the editor's", func() bool {
		nodes := ruNodes(t, e.bin, e.dir)
		for _, u := range units {
			if node, _ := unitIn(nodes, u); node != "n1" {
				return false
			}
		}
		_, scr := unitIn(nodes, "n1/screen")
		return scr.LastOutcome == "committed"
	})
	out, err := ftmctl(t, e.bin, "ru", "--dir", e.dir)
	require.NoError(t, err, out)
	for _, u := range units {
		require.Regexp(t, `n1\s+`+regexp.QuoteMeta(u)+`\s`, out)
	}
	e.p.keys("C-x", "C-s") // through n1/files
	e.p.waitFor("the save", func(s string) bool { return strings.Contains(s, "Wrote 21 characters to ") })
	got, err := os.ReadFile(e.file)
	require.NoError(t, err)
	require.Equal(t, "first line\nfive units", string(got))
	e.quitEndsTheSession()
}

// Reference: §4.2 and §6.1, with real processes — n1, running the
// editor, dies by SIGKILL in the middle of one of the editor's first
// checkpoints (a failpoint after a unit saved its record, while the
// editor opens the file and draws): the atomic action's group is in doubt
// in the bank n2 takes over, and n2 runs no driver for that bank until
// it has a backup again. The editor's restore on n2 waits for the group
// (it does not fail for good); once n1 is back as the backup, the group
// is decided, the editor comes back, and what is typed then is saved.
func TestEditKilledMidCkpt(t *testing.T) {
	skipWithoutProcessesOrTmux(t)
	t.Setenv("FTM_FAILPOINTS", "n1:ru.after-persist=kill@30")
	// Without the group's witness: n2 then runs no driver for n1's bank
	// until it has a backup again (with one, n2 commits alone and decides
	// the group itself).
	bin, dir, _ := startPair(t, "--no-witness")
	eventually(t, "n2 holds n1's backup", func() bool { return banks(statusRows(t, bin, dir), "n2")["n1"] == "backup/ready" })
	st, err := loadPair(dir)
	require.NoError(t, err)
	n1, err := st.Node("n1")
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "mid.txt")
	require.NoError(t, os.WriteFile(file, []byte("first line\n"), 0o644))
	p := tmuxPane{t: t, socket: "ftmmid" + filepath.Base(t.TempDir())}
	_, err = p.run("new-session", "-d", "-s", "ed", "-x", "70", "-y", "12", bin+" edit --dir "+dir+" "+file+"; sleep 60")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = p.run("kill-server") })
	eventually(t, "n1 died at its failpoint, in the editor's first checkpoints", func() bool { return !alive(n1.PID) })
	// Where the kill lands depends on the failpoint's hit count: when it
	// leaves a checkpoint group in doubt, n2's restore waits for it (the
	// in-process task tests pin that path); either way the editor must
	// come back on n2 with what was checkpointed and save what is typed.
	time.Sleep(time.Second)
	n2log, err := os.ReadFile(filepath.Join(dir, "n2.log"))
	require.NoError(t, err)
	inDoubt := strings.Contains(string(n2log), "in-doubt group left to its owner")
	t.Logf("the kill left a checkpoint group in doubt: %v", inDoubt)
	t.Setenv("FTM_FAILPOINTS", "") // n1 comes back without its failpoint
	out, err := ftmctl(t, bin, "pair", "up", "--dir", dir)
	require.NoError(t, err, out)
	p.waitFor("the editor on n2", func(s string) bool { return strings.Contains(s, "uEmacs: "+file) })
	p.waitLine(0, "first line")
	p.keys("M->")
	p.text("after the wait")
	p.waitLine(1, "after the wait")
	eventually(t, "n1 backs up its old bank", func() bool { return banks(statusRows(t, bin, dir), "n1")["n1"] == "backup/ready" })
	p.keys("C-x", "C-s")
	p.waitFor("the save", func(s string) bool { return strings.Contains(s, "Wrote 25 characters") })
	got, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, "first line\nafter the wait", string(got))
	n2log, err = os.ReadFile(filepath.Join(dir, "n2.log"))
	require.NoError(t, err)
	if inDoubt && strings.Contains(string(n2log), "restore waits") {
		require.Contains(t, string(n2log), "restore goes on", "the group was decided and the restore went on")
	}
	require.NotContains(t, string(n2log), "restore gives up")
}

// skipWithoutProcessesOrTmux skips a test that starts node processes
// (not in -short) and drives the editor in tmux (when it is installed).
func skipWithoutProcessesOrTmux(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts processes")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (the Makefile installs it): " + err.Error())
	}
}
