package main

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The chapter "Your own node" of docs/programming-guide.md and the module it
// builds, docs/tutorial/bank (a module of its own, outside the
// repository's build): the chapter shows each file of the module, marked
// <!-- tutorial file: PATH -->, and the session it runs, marked
// <!-- tutorial session -->.
const (
	tutorialGuide         = "../docs/programming-guide.md"
	tutorialDir           = "../docs/tutorial/bank"
	tutorialFileMarker    = "<!-- tutorial file: "
	tutorialSessionMarker = "<!-- tutorial session -->"
)

// tutorialChapter is what the guide shows of the tutorial: each file's
// text by its path in the module, and the session's commands in order.
type tutorialChapter struct {
	files    map[string]string
	commands []string
}

// readTutorialChapter parses the guide: the fenced block after each marker.
func readTutorialChapter(t *testing.T) tutorialChapter {
	t.Helper()
	b, err := os.ReadFile(tutorialGuide)
	require.NoError(t, err)
	ch := tutorialChapter{files: map[string]string{}}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, tutorialFileMarker):
			path := strings.TrimSuffix(strings.TrimPrefix(l, tutorialFileMarker), " -->")
			_, dup := ch.files[path]
			require.False(t, dup, "the chapter shows %s twice", path)
			ch.files[path] = tutorialFencedAfter(t, lines, i)
		case l == tutorialSessionMarker:
			for _, c := range strings.Split(tutorialFencedAfter(t, lines, i), "\n") {
				if cmd, ok := strings.CutPrefix(c, "$ "); ok {
					ch.commands = append(ch.commands, cmd)
				}
			}
		}
	}
	return ch
}

// tutorialFencedAfter returns the text of the fenced code block that starts on the
// line after lines[i].
func tutorialFencedAfter(t *testing.T, lines []string, i int) string {
	t.Helper()
	require.Less(t, i+1, len(lines))
	require.True(t, strings.HasPrefix(lines[i+1], "```"), "a code block follows %q", lines[i])
	for j := i + 2; j < len(lines); j++ {
		if lines[j] == "```" {
			return strings.Join(lines[i+2:j], "\n") + "\n"
		}
	}
	t.Fatalf("the code block after %q is not closed", lines[i])
	return ""
}

// tutorialFiles returns the tutorial module's files by path, but go.sum
// (checksums, not something a reader writes).
func tutorialFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(tutorialDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "go.sum" {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(tutorialDir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	require.NoError(t, err)
	return files
}

// The chapter shows every file of the tutorial module exactly as it is,
// and nothing the module does not hold: the code a reader copies is the
// code TestTutorialBankSurvivesACrashOfItsNode builds and runs.
func TestTutorialChapterShowsTheModuleFiles(t *testing.T) {
	ch := readTutorialChapter(t)
	files := tutorialFiles(t)
	require.Contains(t, files, "go.mod")
	require.Contains(t, files, "cmd/banknode/main.go")
	for path, text := range files {
		shown, ok := ch.files[path]
		require.True(t, ok, "the chapter does not show %s", path)
		require.Equal(t, text, shown, "the chapter shows %s otherwise than the file", path)
	}
	for path := range ch.files {
		require.Contains(t, files, path, "the chapter shows %s, which the tutorial module does not hold", path)
	}
	require.Equal(t, tutorialCommands(), ch.commands, "the chapter's session is the one the test runs")
}

// tutorialStep is one command of the chapter's session and what it must
// give. While wait says so (a state the pair reaches by itself: servers
// starting, a partner's death noticed), the command runs again; then ok
// must hold.
type tutorialStep struct {
	cmd  string
	wait func(out string, err error) bool
	ok   func(out string, err error) bool
}

// The savings program's result once it finishes on beta: the right
// balance (100000 cents at 5% a year, compounded monthly in whole cents,
// for 24 months), from a run that began where alpha's last checkpoint
// left off, not from the start.
var tutorialSavingsDone = regexp.MustCompile(`beta +alpha +1 +savings +done +[1-9][0-9]* .* 110481 cents after 24 months \(this run began at month ([0-9]+)\)`)

func tutorialSteps() []tutorialStep {
	succeeds := func(want ...string) func(string, error) bool {
		return func(out string, err error) bool { return err == nil && tutorialContainsAll(out, want...) }
	}
	fails := func(want string) func(string, error) bool {
		return func(out string, err error) bool { return err != nil && strings.Contains(out, want) }
	}
	prints := func(want string) func(string, error) bool {
		return func(out string, err error) bool { return err == nil && out == want }
	}
	// refused: the one line and the exit status 2 of a refusal the bank
	// declared, which teller recognizes with errors.Is.
	refused := func(want string) func(string, error) bool {
		return func(out string, err error) bool {
			var ee *exec.ExitError
			return errors.As(err, &ee) && ee.ExitCode() == 2 && out == want
		}
	}
	until := func(ok func(string, error) bool) func(string, error) bool {
		return func(out string, err error) bool { return !ok(out, err) }
	}
	running := func(node, unit string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^` + node + ` +` + unit + ` +\S+ +running `)
	}
	return []tutorialStep{
		{cmd: "go build -o . ./cmd/...", ok: succeeds()},
		{cmd: "ftmctl pair up --exec ./banknode --allow-faults", ok: succeeds("node alpha", "node beta")},
		{cmd: "ftmctl ru", wait: until(func(out string, err error) bool {
			return err == nil && running("alpha", "alpha/bank").MatchString(out) && running("beta", "beta/bank").MatchString(out)
		}), ok: succeeds()},
		{cmd: "./teller deposit alice 10000", ok: prints("alice: 10000 cents (alpha/bank)\n")},
		{cmd: "./teller withdraw alice 2500", ok: prints("alice: 7500 cents (alpha/bank)\n")},
		{cmd: "./teller withdraw alice 100000", ok: refused("teller: alpha/bank.withdraw: insufficient funds\n")},
		{cmd: "ftmctl run savings 100000 5 24", ok: succeeds("(savings) started on node alpha")},
		{cmd: "ftmctl run savings 1000 5", ok: fails("usage: savings CENTS RATE MONTHS")},
		{cmd: "ftmctl ps", wait: until(tutorialSavingsCheckpointed), ok: succeeds()},
		{cmd: "ftmctl crash alpha", ok: succeeds("killed with SIGKILL")},
		// The survivor, with the witness's vote, runs both banks' servers
		// with nothing restarted.
		{cmd: "ftmctl ru", wait: until(func(out string, err error) bool {
			return err == nil && running("beta", "alpha/bank").MatchString(out) && running("beta", "beta/bank").MatchString(out)
		}), ok: succeeds()},
		// Reads, once alpha/bank runs on beta: the first answer of each is
		// the acknowledged balance (the client rides out what remains of
		// the takeover itself).
		{cmd: "./teller balance alice", ok: prints("alice: 7500 cents (alpha/bank)\n")},
		{cmd: `ftmctl call alpha/bank balance '"alice"'`, ok: prints("7500\n")},
		{cmd: "ftmctl ps", wait: until(succeeds(" done ")), ok: tutorialSavingsResumed},
		{cmd: "ftmctl pair up", ok: succeeds("node alpha", "restarted")},
		{cmd: "ftmctl pair down", ok: succeeds("node alpha: stopped", "node beta: stopped")},
	}
}

// tutorialSavingsResumed: ftmctl ps lists the savings task done on beta
// (restarted there) with the right balance, from a run that began after
// month 0.
func tutorialSavingsResumed(out string, err error) bool {
	m := tutorialSavingsDone.FindStringSubmatch(out)
	if err != nil || m == nil {
		return false
	}
	began, _ := strconv.Atoi(m[1])
	return began > 0
}

// tutorialCommands is the session's command lines, as the chapter shows
// them.
func tutorialCommands() []string {
	var cmds []string
	for _, s := range tutorialSteps() {
		cmds = append(cmds, s.cmd)
	}
	return cmds
}

func tutorialContainsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// tutorialSavingsCheckpointed: ftmctl ps lists the savings task running
// on alpha with at least two checkpoints.
func tutorialSavingsCheckpointed(out string, err error) bool {
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text()) // NODE BANK TASK PROGRAM STATE RESTARTS CHECKPOINTS ...
		if len(f) >= 7 && f[0] == "alpha" && f[3] == "savings" && f[4] == "running" {
			n, _ := strconv.Atoi(f[6])
			return n >= 2
		}
	}
	return false
}

// Reference: the chapter "Your own node", run as a reader runs it. The
// tutorial module is copied out of the repository and its replace
// directive pointed at this checkout (a reader's module depends on the
// framework only through go.mod); it is built with the chapter's command,
// and the chapter's session runs against real processes: a pair of the
// user's node binary, a deposit acknowledged (durable) through package
// client, a declared refusal recognized as itself, a stable program
// part-way, the node running both killed with SIGKILL (ftmctl crash), its
// partner takes both over, and once the killed node is back as its backup
// the balance answers as acknowledged (to teller and to ftmctl call) and
// the program finishes with the right result from its checkpoint.
func TestTutorialBankSurvivesACrashOfItsNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module and starts processes")
	}
	s := newTutorialSession(t)
	pairDir := filepath.Join(s.dir, ".ftm")
	t.Cleanup(func() { _, _ = ftmctl(t, s.ftmctl, "pair", "down", "--dir", pairDir, "--grace", "1s") })
	t.Cleanup(func() { dumpLogsOnFailure(t, pairDir, "alpha", "beta") })
	for _, step := range tutorialSteps() {
		s.run(t, step)
	}
	out, err := s.exec("go vet ./...")
	require.NoError(t, err, out)
}

// tutorialSession is where the chapter's commands run: a copy of the
// tutorial module, with ftmctl on the PATH.
type tutorialSession struct {
	dir    string   // the module's copy, outside the repository
	ftmctl string   // the ftmctl binary "ftmctl" runs
	env    []string // PATH with ftmctl first; modules resolved offline
}

// newTutorialSession copies the tutorial module to a temporary directory,
// points its replace directive at this checkout and builds ftmctl.
func newTutorialSession(t *testing.T) *tutorialSession {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	s := &tutorialSession{dir: filepath.Join(t.TempDir(), "bank"), ftmctl: filepath.Join(t.TempDir(), "ftmctl")}
	require.NoError(t, os.CopyFS(s.dir, os.DirFS(tutorialDir)))
	// The framework's checksums join the module's, as `go mod tidy` would
	// fetch them: the module still builds offline once the framework
	// gains a dependency its go.mod does not list yet.
	sums, err := os.ReadFile("../go.sum")
	require.NoError(t, err)
	f, err := os.OpenFile(filepath.Join(s.dir, "go.sum"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write(sums)
	require.NoError(t, errors.Join(err, f.Close()))
	out, err := exec.Command("go", "build", "-o", s.ftmctl, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains([]string{"FTM_DIR", "GOWORK", "GOFLAGS", "PATH"}, name) {
			s.env = append(s.env, kv)
		}
	}
	// -mod=mod: the module's requirements come from its go.mod and go.sum
	// and the module cache, as `go build` in a reader's module finds them.
	s.env = append(s.env, "GOWORK=off", "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=mod"),
		"PATH="+filepath.Dir(s.ftmctl)+string(os.PathListSeparator)+os.Getenv("PATH"))
	edit, err := s.exec("go mod edit -replace github.com/ftm-in-go/ftm=" + root)
	require.NoError(t, err, edit)
	return s
}

// exec runs the command line cmd in the module's directory.
func (s *tutorialSession) exec(cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := tutorialArgs(cmd)
	if args[0] == "ftmctl" {
		args[0] = s.ftmctl // exec looks names up in this process's PATH, not s.env's
	}
	c := exec.CommandContext(ctx, args[0], args[1:]...)
	c.Dir, c.Env = s.dir, s.env
	out, err := c.CombinedOutput()
	return string(out), err
}

// tutorialArgs splits a command line into its arguments as a shell does
// for the chapter's commands: at spaces, but not inside single quotes,
// which are removed.
func tutorialArgs(cmd string) []string {
	var args []string
	var arg strings.Builder
	inArg, quoted := false, false
	for _, r := range cmd {
		switch {
		case r == '\'':
			quoted, inArg = !quoted, true
		case r == ' ' && !quoted:
			if inArg {
				args = append(args, arg.String())
				arg.Reset()
			}
			inArg = false
		default:
			arg.WriteRune(r)
			inArg = true
		}
	}
	if inArg {
		args = append(args, arg.String())
	}
	return args
}

// run runs step, again while it waits, and checks its outcome.
func (s *tutorialSession) run(t *testing.T, step tutorialStep) {
	t.Helper()
	out, err := s.exec(step.cmd)
	deadline := time.Now().Add(20 * time.Second)
	for step.wait != nil && step.wait(out, err) {
		if time.Now().After(deadline) {
			t.Fatalf("$ %s: still waiting after 20s; last output (%v):\n%s", step.cmd, err, out)
		}
		time.Sleep(50 * time.Millisecond)
		out, err = s.exec(step.cmd)
	}
	require.True(t, step.ok(out, err), "$ %s (%v):\n%s", step.cmd, err, out)
	t.Logf("$ %s\n%s", step.cmd, out)
}
