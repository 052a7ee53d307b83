package screen

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestGolden drives the interpreter with recorded escape sequences
// (testdata/*.txt) and compares the screen image it draws.
//
//	new w=20 h=5     a fresh screen
//	write            the input (Go string escapes, \e for ESC; lines are
//	                 concatenated), then prints the screen and the cursor;
//	                 with tmux-differs, TestAgainstTmux does not compare it
//	                 (nor what follows until the next new)
//	attrs            the non-default pens, as runs per row
//	render           checks that Render redraws an equal image
//
// Reference: ftm-lessons.txt §6.4 (the screen server emulates a VT100).
func TestGolden(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var im *Image
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "new":
				w, h := 20, 5
				d.MaybeScanArgs(t, "w", &w)
				d.MaybeScanArgs(t, "h", &h)
				im = New(w, h)
				return ""
			case "write":
				in, err := unquote(d.Input)
				if err != nil {
					d.Fatalf(t, "input: %v", err)
				}
				_, _ = im.WriteString(in)
				return dump(im)
			case "attrs":
				return attrs(im)
			case "render":
				re := New(im.W, im.H)
				_, _ = re.Write(im.Render())
				if !re.Equal(im) {
					return "render differs:\n" + dump(re)
				}
				return "ok"
			}
			d.Fatalf(t, "unknown command %s", d.Cmd)
			return ""
		})
	})
}

// unquote reads the input as a Go string body (lines concatenated).
func unquote(in string) (string, error) {
	in = strings.ReplaceAll(in, "\n", "")
	in = strings.ReplaceAll(in, `\e`, `\x1b`)
	in = strings.ReplaceAll(in, `"`, `\"`)
	return strconv.Unquote(`"` + in + `"`)
}

// dump prints the screen between bars, then the cursor and modes.
func dump(im *Image) string {
	var b strings.Builder
	for y := 0; y < im.H; y++ {
		b.WriteByte('|')
		for _, c := range im.Row(y) {
			b.WriteRune(c.R)
		}
		b.WriteString("|\n")
	}
	c := im.Cur
	fmt.Fprintf(&b, "cursor %d,%d", c.X, c.Y)
	if c.WrapPending {
		b.WriteString(" wrap-pending")
	}
	if c.Origin {
		b.WriteString(" origin")
	}
	if im.Top != 0 || im.Bot != im.H-1 {
		fmt.Fprintf(&b, " region %d-%d", im.Top, im.Bot)
	}
	if im.Mode != 0 {
		fmt.Fprintf(&b, " mode %s", modeString(im.Mode))
	}
	b.WriteByte('\n')
	return b.String()
}

func modeString(m Mode) string {
	var s []string
	for i, n := range []string{"nowrap", "insert", "hidden", "appcursor"} {
		if m&(1<<i) != 0 {
			s = append(s, n)
		}
	}
	return strings.Join(s, ",")
}

func penString(p Pen) string {
	var s []string
	for i, n := range []string{"bold", "dim", "underline", "blink", "reverse", "invisible"} {
		if p.Flags&(1<<i) != 0 {
			s = append(s, n)
		}
	}
	if p.FG != 0 {
		s = append(s, fmt.Sprintf("fg=%d", p.FG-1))
	}
	if p.BG != 0 {
		s = append(s, fmt.Sprintf("bg=%d", p.BG-1))
	}
	return strings.Join(s, ",")
}

// attrs prints runs of cells with a non-default pen: row x0-x1 pen.
func attrs(im *Image) string {
	var b strings.Builder
	for y := 0; y < im.H; y++ {
		row := im.Row(y)
		for x := 0; x < len(row); {
			e := x
			for e < len(row) && row[e].Pen == row[x].Pen {
				e++
			}
			if row[x].Pen != (Pen{}) {
				fmt.Fprintf(&b, "row %d cols %d-%d %s\n", y, x, e-1, penString(row[x].Pen))
			}
			x = e
		}
	}
	fmt.Fprintf(&b, "pen %s\n", penString(im.Cur.Pen))
	return b.String()
}

func TestDirtyRows(t *testing.T) {
	im := New(10, 4)
	im.ClearDirty()
	_, _ = im.WriteString("\x1b[3;1Hx")
	if got := fmt.Sprint(im.DirtyRows()); got != "[2]" {
		t.Fatalf("dirty rows after writing row 2: %s", got)
	}
	im.ClearDirty()
	_, _ = im.WriteString("\x1b[2;3r\x1b[3;1H\n")
	if got := fmt.Sprint(im.DirtyRows()); got != "[1 2]" {
		t.Fatalf("dirty rows after scrolling region 1-2: %s", got)
	}
}

func TestSizeIsClamped(t *testing.T) {
	im := New(0, 100000)
	if im.W != 1 || im.H != MaxHeight {
		t.Fatalf("New(0, 100000) is %dx%d", im.W, im.H)
	}
	_, _ = im.WriteString("abc\r\n\x1b[999;999H\x1b[5@\x1b[5P\x1b[9L\x1b[9M")
}
