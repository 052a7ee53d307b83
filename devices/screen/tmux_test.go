package screen

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestAgainstTmux replays the output of every golden script into tmux, a
// real VT100/xterm emulator, and checks that tmux shows the same text and
// cursor as the image: the expected screens of the golden files are not
// only this package's opinion.
func TestAgainstTmux(t *testing.T) {
	tmux := startTmux(t, "ftmscreen")
	n := 0
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var im *Image
		var fed strings.Builder
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "new":
				w, h := 20, 5
				d.MaybeScanArgs(t, "w", &w)
				d.MaybeScanArgs(t, "h", &h)
				im, fed = New(w, h), strings.Builder{}
			case "write":
				in, err := unquote(d.Input)
				if err != nil {
					d.Fatalf(t, "input: %v", err)
				}
				if im == nil {
					return d.Expected
				}
				_, _ = im.WriteString(in)
				fed.WriteString(in)
				if d.HasArg("tmux-differs") {
					im = nil // later writes in this block cannot be compared
					return d.Expected
				}
				n++
				got := tmux.screen(fmt.Sprint(n), im.W, im.H, fed.String())
				if want := textAndCursor(im); got != want {
					t.Errorf("%s: tmux shows\n%s\nthe image\n%s", d.Pos, got, want)
				}
			}
			return d.Expected // only the comparison with tmux counts here
		})
	})
}

// screen writes out in a fresh w×h tmux pane (no output processing),
// through a scratch file named name, and returns what the pane shows.
func (x *tmuxServer) screen(name string, w, h int, out string) string {
	x.t.Helper()
	file := filepath.Join(x.dir, name)
	if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
		x.t.Fatal(err)
	}
	cmd := fmt.Sprintf("stty -opost -echo; cat %s; tmux -L %s wait-for -S %s; sleep 30", file, x.sock, name)
	_, _ = x.run("kill-session", "-t", "s")
	if out, err := x.run("new-session", "-d", "-s", "s", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), cmd); err != nil {
		x.t.Fatalf("tmux: %v: %s", err, out)
	}
	if out, err := x.run("wait-for", name); err != nil {
		x.t.Fatalf("tmux wait-for: %v: %s", err, out)
	}
	screen, err := x.run("capture-pane", "-p", "-t", "s")
	if err != nil {
		x.t.Fatal(err)
	}
	cur, err := x.run("display", "-p", "-t", "s", "#{cursor_x},#{cursor_y}")
	if err != nil {
		x.t.Fatal(err)
	}
	var cx, cy int
	if _, err := fmt.Sscanf(strings.TrimSpace(cur), "%d,%d", &cx, &cy); err != nil {
		x.t.Fatalf("tmux cursor %q", cur)
	}
	cur = fmt.Sprintf("%d,%d", min(cx, w-1), cy) // past the edge: a wrap pending
	rows := strings.Split(strings.TrimSuffix(screen, "\n"), "\n")
	for len(rows) < h {
		rows = append(rows, "")
	}
	for i := range rows {
		rows[i] = strings.TrimRight(rows[i], " ")
	}
	return strings.Join(rows, "\n") + "\ncursor " + strings.TrimSpace(cur)
}

func textAndCursor(im *Image) string {
	rows := make([]string, im.H)
	for y := range rows {
		rows[y] = im.Text(y)
	}
	return strings.Join(rows, "\n") + fmt.Sprintf("\ncursor %d,%d", im.Cur.X, im.Cur.Y)
}

// randomScript builds terminal output from the sequences the golden
// files cover, at random, leaving out where tmux differs from the VT100
// and xterm: IL and DL outside the scroll region (testdata/insdel.txt),
// with a wrap pending anything but text, CR, LF, CUP and VPA (tmux's
// cursor is then past the edge, and stays there through the others) and
// text in insert mode, and origin mode (tmux homes the cursor to the screen, not the
// region, when DECSTBM is set; the golden region.txt covers origin mode).
func randomScript(rng *rand.Rand, w, h int) string {
	return strings.Join(randomTokens(rng, w, h), "")
}

func randomTokens(rng *rand.Rand, w, h int) []string {
	im := New(w, h)
	var b []string
	words := []string{"a", "hello", "λx", "0123456789", "€uro", " "}
	for i := 0; i < 40; i++ {
		var s string
		switch rng.IntN(15) {
		case 0, 1, 2:
			s = words[rng.IntN(len(words))]
		case 3:
			s = fmt.Sprintf("\x1b[%d;%dH", rng.IntN(h+2), rng.IntN(w+2))
		case 4:
			s = []string{"\r", "\n", "\b", "\t", "\x1bD", "\x1bM", "\x1bE"}[rng.IntN(7)]
		case 5:
			s = fmt.Sprintf("\x1b[%d%c", rng.IntN(4), "ABCD"[rng.IntN(4)])
		case 6:
			s = fmt.Sprintf("\x1b[%dJ", rng.IntN(3))
		case 7:
			s = fmt.Sprintf("\x1b[%dK", rng.IntN(3))
		case 8:
			if im.Cur.Y >= im.Top && im.Cur.Y <= im.Bot {
				s = fmt.Sprintf("\x1b[%d%c", rng.IntN(3), "LM"[rng.IntN(2)])
			}
		case 9:
			s = fmt.Sprintf("\x1b[%d%c", rng.IntN(4), "@PX"[rng.IntN(3)])
		case 10:
			top := 1 + rng.IntN(h)
			s = fmt.Sprintf("\x1b[%d;%dr", top, top+rng.IntN(h))
		case 11:
			s = []string{"\x1b7", "\x1b8", "\x1b[4h", "\x1b[4l", "\x1b[?7l", "\x1b[?7h"}[rng.IntN(6)]
		case 12:
			s = fmt.Sprintf("\x1b[%dm", []int{0, 1, 4, 7, 31, 42}[rng.IntN(6)])
		case 13:
			s = fmt.Sprintf("\x1b[%d%c", rng.IntN(3), "ST"[rng.IntN(2)])
		case 14:
			s = fmt.Sprintf("\x1b[%d%c", 1+rng.IntN(h), "dG"[rng.IntN(2)])
		}
		if im.Cur.WrapPending && !wrapSafe(s, im.Mode&Insert != 0) {
			s = "" // tmux keeps a wrap-pending cursor past the edge through these
		}
		_, _ = im.WriteString(s)
		b = append(b, s)
	}
	return b
}

// wrapSafe: s does the same in tmux and here with a wrap pending: text
// (outside insert mode), CR, LF, CUP.
func wrapSafe(s string, insert bool) bool {
	switch {
	case s == "" || s == "\r" || s == "\n":
		return true
	case s[0] == 0x1b:
		return strings.HasSuffix(s, "H")
	case s[0] < 0x20:
		return false
	}
	return !insert
}

// TestRandomOutputAgainstTmux: random output of the covered sequences
// shows the same text and cursor in tmux as in the image.
func TestRandomOutputAgainstTmux(t *testing.T) {
	tmux := startTmux(t, "ftmscreenrnd")
	seeds := uint64(60)
	if os.Getenv("FTM_SOAK") != "" {
		seeds = 1000
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		w, h := 8+rng.IntN(10), 3+rng.IntN(5)
		out := randomScript(rng, w, h)
		im := New(w, h)
		_, _ = im.WriteString(out)
		got := tmux.screen(fmt.Sprint(seed), w, h, out)
		if want := textAndCursor(im); got != want {
			t.Errorf("seed %d (%dx%d) %q:\ntmux shows\n%s\nthe image\n%s", seed, w, h, out, got, want)
		}
	}
}

// tmuxServer is a private tmux server for one test: its own socket and
// configuration, and a scratch directory for the output each pane shows.
type tmuxServer struct {
	t    *testing.T
	sock string // the socket's name (tmux -L)
	conf string // the configuration file (tmux -f)
	dir  string // scratch files
}

// startTmux starts a private tmux server (its own socket named after
// prefix, no status line) for the test, or skips the test without tmux. A
// session that lives as long as the test keeps the server up while the
// panes of each case come and go; the server is killed at the test's end.
func startTmux(t *testing.T, prefix string) *tmuxServer {
	t.Helper()
	if testing.Short() {
		t.Skip("starts tmux")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: " + err.Error())
	}
	dir := t.TempDir()
	x := &tmuxServer{t: t, sock: prefix + filepath.Base(dir), conf: filepath.Join(dir, "tmux.conf"), dir: dir}
	if err := os.WriteFile(x.conf, []byte("set -g status off\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = x.run("kill-server") })
	if out, err := x.run("new-session", "-d", "-s", "keep", "sleep 600"); err != nil {
		t.Fatalf("tmux: %v: %s", err, out)
	}
	return x
}

// run runs one tmux command against the server and returns its combined
// output.
func (x *tmuxServer) run(args ...string) (string, error) {
	out, err := exec.Command("tmux", append([]string{"-L", x.sock, "-f", x.conf}, args...)...).CombinedOutput()
	return string(out), err
}
