package emacs

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/devices/screen"
)

type memFiles map[string]string

func (m memFiles) Open(p string) ([]byte, error) { return []byte(m[p]), nil }
func (m memFiles) Save(p string, d []byte) error {
	m[p] = string(d)
	return nil
}

// term is an editor drawing on a VT100 screen image.
type term struct {
	t     *testing.T
	e     *Editor
	scr   *screen.Image
	files memFiles
	seq   uint64
}

func newTerm(t *testing.T, w, h int) *term {
	files := memFiles{}
	e, err := New(make([]byte, 1<<20), w, h, files)
	require.NoError(t, err)
	tm := &term{t: t, e: e, scr: screen.New(w, h), files: files}
	tm.draw()
	return tm
}

func (tm *term) draw() { _, _ = tm.scr.Write(tm.e.Redisplay()) }

// keys types s (escape sequences allowed) as one input burst.
func (tm *term) keys(s string) *term {
	tm.seq++
	tm.e.Input(tm.seq, []byte(s))
	tm.draw()
	return tm
}

func (tm *term) row(y int) string { return tm.scr.Text(y) }

func (tm *term) cursor() string { return fmt.Sprintf("%d,%d", tm.scr.Cur.X, tm.scr.Cur.Y) }

func (tm *term) screen() string {
	var rows []string
	for y := 0; y < tm.scr.H; y++ {
		rows = append(rows, tm.row(y))
	}
	return strings.Join(rows, "\n")
}

const (
	cA  = "\x01"
	cB  = "\x02"
	cD  = "\x04"
	cE  = "\x05"
	cF  = "\x06"
	cG  = "\x07"
	cK  = "\x0b"
	cN  = "\x0e"
	cP  = "\x10"
	cS  = "\x13"
	cV  = "\x16"
	cW  = "\x17"
	cX  = "\x18"
	cY  = "\x19"
	cSp = "\x00"
	mLt = "\x1b<"
	mGt = "\x1b>"
	mV  = "\x1bv"
)

func TestTypingEchoesAndMovesTheCursor(t *testing.T) {
	tm := newTerm(t, 40, 6)
	tm.keys("hello\rworld")
	require.Equal(t, "hello", tm.row(0))
	require.Equal(t, "world", tm.row(1))
	require.Equal(t, "5,1", tm.cursor())
	require.Contains(t, tm.row(4), "-*- uEmacs: *scratch* -- C5 -- All --")
	require.Equal(t, screen.Reverse, tm.scr.At(0, 4).Pen.Flags, "the mode line is in reverse video")
	tm.keys(cA + cF + cF)
	require.Equal(t, "2,1", tm.cursor())
	tm.keys(cP + cE)
	require.Equal(t, "5,0", tm.cursor())
	tm.keys(cB + cB + "\x7f")
	require.Equal(t, "helo", tm.row(0))
	tm.keys(cD)
	require.Equal(t, "heo", tm.row(0))
	require.Equal(t, "2,0", tm.cursor())
	tm.keys("\x1b[B\x1b[C\x1b[D\x1b[A\x1b[3~")
	require.Equal(t, "he", tm.row(0))
}

func TestVerticalMotionKeepsTheGoalColumn(t *testing.T) {
	tm := newTerm(t, 40, 8)
	tm.keys("long line here\rab\rlonger line here" + mLt)
	tm.keys(cE + cB + cB) // column 12
	tm.keys(cN)
	require.Equal(t, "2,1", tm.cursor())
	tm.keys(cN)
	require.Equal(t, "12,2", tm.cursor())
	tm.keys(cP + cP)
	require.Equal(t, "12,0", tm.cursor())
}

func TestKillAndYank(t *testing.T) {
	tm := newTerm(t, 40, 8)
	tm.keys("one\rtwo\rthree" + mLt)
	tm.keys(cK + cK + cK) // "one", newline, "two": appended
	require.Equal(t, "", tm.row(0))
	require.Equal(t, "three", tm.row(1))
	tm.keys(cN + cE + "\r" + cY)
	require.Equal(t, "three", tm.row(1))
	require.Equal(t, "one", tm.row(2))
	require.Equal(t, "two", tm.row(3))
	// Region: mark at "one", point after "two": C-w kills both lines.
	tm.keys(cP + cA + cSp)
	require.Equal(t, "Mark set", tm.row(7))
	tm.keys(cN + cE + cW)
	require.Equal(t, "three", tm.row(1))
	require.Equal(t, "", tm.row(2))
	tm.keys(mLt + cY)
	require.Equal(t, "one", tm.row(0))
	require.Equal(t, "two", tm.row(1))
}

func TestIncrementalSearch(t *testing.T) {
	tm := newTerm(t, 40, 8)
	tm.keys("apple banana\rband bandana" + mLt)
	tm.keys(cS + "ban")
	require.Equal(t, "I-search: ban", tm.row(7))
	require.Equal(t, 9, tm.e.Point())
	tm.keys(cS)
	require.Equal(t, 16, tm.e.Point())
	tm.keys("d")
	require.Equal(t, 17, tm.e.Point())
	tm.keys("x")
	require.Equal(t, "Failing I-search: bandx", tm.row(7))
	tm.keys("\x7f\x7f")
	require.Equal(t, "I-search: ban", tm.row(7))
	tm.keys(cG)
	require.Equal(t, 0, tm.e.Point(), "C-g goes back where the search started")
	tm.keys(cS + "dana\r")
	require.Equal(t, "1,11", fmt.Sprintf("%d,%d", 1, tm.e.Point()-14), "RET leaves point after the match")
	tm.keys(cS + "ban" + cA) // another key ends the search and runs
	require.Equal(t, "0,1", tm.cursor())
}

func TestFindFileSaveAndQuit(t *testing.T) {
	tm := newTerm(t, 60, 8)
	tm.files["/tmp/a.txt"] = "first line\nsecond λ line\n"
	tm.keys(cX + cF + "/tmp/a.tx")
	require.Equal(t, "Find file: /tmp/a.tx", tm.row(7))
	tm.keys("t\r")
	require.Equal(t, "first line", tm.row(0))
	require.Equal(t, "second λ line", tm.row(1))
	require.Contains(t, tm.row(6), "uEmacs: /tmp/a.txt")
	tm.keys(cN + cE + "!")
	require.Contains(t, tm.row(6), "-*-")
	tm.keys(cX + cC)
	require.False(t, tm.e.Quit(), "a modified buffer needs C-x C-c twice")
	require.Equal(t, "Modified buffer not saved; C-x C-c again to quit", tm.row(7))
	tm.keys(cX + "\x13")
	require.Equal(t, "first line\nsecond λ line!\n", tm.files["/tmp/a.txt"])
	require.Equal(t, "Wrote 26 characters to /tmp/a.txt", tm.row(7))
	require.False(t, tm.e.Modified())
	tm.keys(cX + "\x03")
	require.True(t, tm.e.Quit())
}

const cC = "\x03"

func TestUTF8InputSplitAcrossBursts(t *testing.T) {
	tm := newTerm(t, 20, 4)
	tm.keys("h\xc3").keys("\xa9llo \xce").keys("\xbb")
	require.Equal(t, "héllo λ", tm.row(0))
	require.Equal(t, "7,0", tm.cursor())
	require.Equal(t, "héllo λ", tm.e.String())
}

func TestFilesLargerThanTheScreen(t *testing.T) {
	tm := newTerm(t, 30, 10)
	var b strings.Builder
	for i := 1; i <= 1000; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	tm.files["big"] = b.String()
	tm.keys(cX + cF + "big\r")
	require.Equal(t, "line 1", tm.row(0))
	require.Contains(t, tm.row(8), "Top")
	tm.keys(cV)
	require.Equal(t, "line 7", tm.row(0))
	require.Equal(t, "0,0", tm.cursor())
	tm.keys(mV)
	require.Equal(t, "line 1", tm.row(0))
	tm.keys(mGt)
	require.Equal(t, "line 1000", tm.row(3), "M-> recenters on the last line")
	require.Equal(t, "", tm.row(4))
	require.Contains(t, tm.row(8), "Bot")
	require.Equal(t, "0,4", tm.cursor())
	tm.keys(mLt)
	require.Equal(t, "line 1", tm.row(0))
	for i := 0; i < 20; i++ {
		tm.keys(cN)
	}
	require.Equal(t, "line 21", tm.row(tm.scr.Cur.Y))
}

func TestLongLinesScrollSideways(t *testing.T) {
	tm := newTerm(t, 20, 4)
	tm.keys(strings.Repeat("abcdefghij", 5))
	require.Equal(t, "$", tm.row(0)[:1])
	require.Equal(t, tm.e.Point()%1+tm.scr.Cur.X, tm.scr.Cur.X)
	require.Equal(t, "j", tm.row(0)[tm.scr.Cur.X-1:tm.scr.Cur.X], "the character before the cursor is the last typed")
	tm.keys(cA)
	require.Equal(t, "abcdefghijabcdefghi$", tm.row(0))
	require.Equal(t, "0,0", tm.cursor())
}

// Input numbered at or below the last applied sequence is ignored: a
// client resending after a takeover applies nothing twice.
func TestInputAppliedExactlyOnce(t *testing.T) {
	tm := newTerm(t, 20, 4)
	require.True(t, tm.e.Input(1, []byte("ab")))
	require.True(t, tm.e.Input(2, []byte("c")))
	require.False(t, tm.e.Input(2, []byte("c")))
	require.False(t, tm.e.Input(1, []byte("ab")))
	require.True(t, tm.e.Input(3, []byte("d")))
	require.Equal(t, "abcd", tm.e.String())
	require.Equal(t, uint64(3), tm.e.Applied())
}

// The editor's whole state is in its arena: a copy of the arena (what a
// checkpoint restores) goes on exactly where the original was, and its
// first Redisplay redraws the whole screen.
func TestStateLivesInTheArena(t *testing.T) {
	tm := newTerm(t, 30, 8)
	require.False(t, tm.e.Restored())
	tm.files["f"] = "alpha\nbeta\ngamma\n"
	tm.keys(cX + cF + "f\r" + cN + cE + " ray" + cSp + cA + cK)
	mem := append([]byte(nil), tm.e.mem...)
	e2, err := New(mem, 0, 0, tm.files)
	require.NoError(t, err)
	require.True(t, e2.Restored())
	fresh := screen.New(30, 8)
	_, _ = fresh.WriteString("garbage on the terminal")
	_, _ = fresh.Write(e2.Redisplay())
	for y := 0; y < 8; y++ {
		require.Equal(t, tm.row(y), fresh.Text(y), "row %d", y)
	}
	require.Equal(t, tm.cursor(), fmt.Sprintf("%d,%d", fresh.Cur.X, fresh.Cur.Y))
	e2.Input(tm.seq+1, []byte(cY+"!"))
	tm.keys(cY + "!")
	require.Equal(t, tm.e.String(), e2.String())
	require.Equal(t, "alpha\nbeta ray!\ngamma\n", e2.String())
}

func TestArenaTooSmall(t *testing.T) {
	_, err := New(make([]byte, 4096), 80, 24, memFiles{})
	require.ErrorIs(t, err, ErrArena)
	_, err = New(make([]byte, 1<<20), 5, 2, memFiles{})
	require.Error(t, err)
}

// FuzzInput: no key sequence panics the editor, and its text and screen
// stay consistent with a redraw from scratch.
func FuzzInput(f *testing.F) {
	f.Add([]byte("hello\r\x01\x0b\x0b\x19\x19\x13l\x07\x1b>\x1b<\x16\x1bv"))
	f.Add([]byte("\x18\x06name\r\x18\x13\x18\x03\x00\x05\x17\xc3\xa9\x1b[A\x1b[3~"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := New(make([]byte, 1<<20), 20, 6, memFiles{})
		require.NoError(t, err)
		scr := screen.New(20, 6)
		_, _ = scr.Write(e.Redisplay())
		for i := 0; i < len(data); i += 3 {
			e.Input(uint64(i+1), data[i:min(i+3, len(data))])
			_, _ = scr.Write(e.Redisplay())
		}
		e.Redraw()
		full := screen.New(20, 6)
		_, _ = full.Write(e.Redisplay())
		for y := 0; y < 6; y++ {
			require.Equal(t, full.Text(y), scr.Text(y), "row %d", y)
		}
	})
}
