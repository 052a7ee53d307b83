package screen

import (
	"strconv"
	"strings"
)

// Render returns escape sequences that redraw the whole image on a VT100
// (xterm, tmux) terminal of the same size: cells and their attributes,
// the scroll region, the saved cursor, the modes, the tab stops and the
// cursor with its pen. Feeding them to a fresh image of the same size
// reproduces this one (Equal), which the tests check on random input.
// A sequence cut in the middle is not replayed: the next write starts it
// afresh on the terminal.
func (im *Image) Render() []byte {
	var b strings.Builder
	b.Grow(im.W*im.H + 64*im.H)
	b.WriteString("\x1b[?25l\x1b[4l\x1b[?6l\x1b[?7h\x1b[r\x1b[0m\x1b[H\x1b[2J")
	pen := Pen{}
	for y := 0; y < im.H; y++ {
		pen = im.renderRow(&b, y, pen)
	}
	im.renderTabs(&b)
	if im.Top != 0 || im.Bot != im.H-1 {
		b.WriteString("\x1b[" + strconv.Itoa(im.Top+1) + ";" + strconv.Itoa(im.Bot+1) + "r")
	}
	// The saved cursor: put it in place with its pen and origin mode, save
	// it, then the current cursor the same way.
	im.placeCursor(&b, im.Saved)
	b.WriteString("\x1b7")
	if im.Saved.Origin {
		b.WriteString("\x1b[?6l")
	}
	im.placeCursor(&b, im.Cur)
	im.renderModes(&b)
	return []byte(b.String())
}

// renderRow draws row y up to its last non-blank cell.
func (im *Image) renderRow(b *strings.Builder, y int, pen Pen) Pen {
	row := im.Row(y)
	end := len(row)
	for end > 0 && row[end-1] == blank(Pen{}) {
		end--
	}
	if end == 0 {
		return pen
	}
	writeCUP(b, 0, y)
	for _, c := range row[:end] {
		if c.Pen != pen {
			writeSGR(b, c.Pen)
			pen = c.Pen
		}
		b.WriteRune(c.R)
	}
	return pen
}

func (im *Image) renderTabs(b *strings.Builder) {
	def := defaultTabs(im.W)
	same := true
	for i := range def {
		same = same && def[i] == im.Tabs[i]
	}
	if same {
		return
	}
	b.WriteString("\x1b[3g")
	for x, on := range im.Tabs {
		if on {
			writeCUP(b, x, 0)
			b.WriteString("\x1bH")
		}
	}
}

// placeCursor moves the terminal's cursor to c with c's origin mode, wrap
// state and pen (insert mode is off and autowrap on while it runs).
func (im *Image) placeCursor(b *strings.Builder, c Cursor) {
	y := c.Y
	if c.Origin {
		b.WriteString("\x1b[?6h")
		y -= im.Top
	}
	if c.WrapPending {
		// Only writing the last column sets it: redraw that cell.
		last := im.At(im.W-1, c.Y)
		writeCUP(b, im.W-1, y)
		writeSGR(b, last.Pen)
		b.WriteRune(last.R)
	} else {
		writeCUP(b, c.X, y)
	}
	writeSGR(b, c.Pen)
}

func (im *Image) renderModes(b *strings.Builder) {
	if im.Mode&Insert != 0 {
		b.WriteString("\x1b[4h")
	}
	if im.Mode&NoAutowrap != 0 {
		b.WriteString("\x1b[?7l")
	}
	if im.Mode&AppCursor != 0 {
		b.WriteString("\x1b[?1h")
	} else {
		b.WriteString("\x1b[?1l")
	}
	if im.Mode&CursorHidden == 0 {
		b.WriteString("\x1b[?25h")
	}
}

func writeCUP(b *strings.Builder, x, y int) {
	b.WriteString("\x1b[")
	b.WriteString(strconv.Itoa(y + 1))
	b.WriteByte(';')
	b.WriteString(strconv.Itoa(x + 1))
	b.WriteByte('H')
}

// writeSGR sets the pen from scratch.
func writeSGR(b *strings.Builder, p Pen) {
	b.WriteString("\x1b[0")
	for i, code := range []string{"1", "2", "4", "5", "7", "8"} {
		if p.Flags&(1<<i) != 0 {
			b.WriteString(";" + code)
		}
	}
	if p.FG != 0 {
		b.WriteString(";38;5;" + strconv.Itoa(int(p.FG-1)))
	}
	if p.BG != 0 {
		b.WriteString(";48;5;" + strconv.Itoa(int(p.BG-1)))
	}
	b.WriteByte('m')
}

// Equal reports whether two images show and behave the same: size, cells,
// cursor, saved cursor, region, modes and tab stops (not the parser).
func (im *Image) Equal(o *Image) bool {
	if im.W != o.W || im.H != o.H || im.Cur != o.Cur || im.Saved != o.Saved ||
		im.Top != o.Top || im.Bot != o.Bot || im.Mode != o.Mode {
		return false
	}
	for i := range im.Cells {
		if im.Cells[i] != o.Cells[i] {
			return false
		}
	}
	for i := range im.Tabs {
		if im.Tabs[i] != o.Tabs[i] {
			return false
		}
	}
	return true
}
