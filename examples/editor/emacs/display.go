package emacs

import (
	"fmt"
	"strconv"
	"strings"
)

func (e *Editor) textRows() int { return int(e.h.H) - 2 }

// Redraw makes the next Redisplay clear the screen and draw everything
// (after a restore, or when a terminal attaches).
func (e *Editor) Redraw() { e.full = true }

// recenter puts the line of p in the middle of the window.
func (e *Editor) recenter(p int) {
	top := e.lineStart(p)
	for i := 0; i < e.textRows()/2 && top > 0; i++ {
		top = e.lineStart(top - 1)
	}
	e.h.Top = uint32(top)
}

// frame scrolls so that point is on screen.
func (e *Editor) frame() {
	p, top := int(e.h.Point), int(e.h.Top)
	if p < top {
		e.recenter(p)
		return
	}
	ls := top
	for i := 0; i < e.textRows(); i++ {
		le := e.lineEnd(ls)
		if p <= le {
			return
		}
		ls = le + 1
	}
	e.recenter(p)
}

// Redisplay returns the escape sequences that bring the screen up to
// date: the rows that changed since the last call (all of them, after a
// clear, when Redraw was called or the editor was just created), then the
// cursor.
func (e *Editor) Redisplay() []byte {
	e.frame()
	w, h := e.Size()
	var b strings.Builder
	if e.full {
		b.WriteString("\x1b[0m\x1b[r\x1b[H\x1b[2J")
		for i := range e.shadow[:w*h] {
			e.shadow[i] = ' '
		}
		e.full = false
	}
	row := make([]uint32, w)
	cx, cy := 0, 0
	ls := int(e.h.Top)
	for y := 0; y < e.textRows(); y++ {
		if ls > e.Len() {
			fillBlank(row)
		} else {
			if x, ok := e.drawLine(row, ls); ok {
				cx, cy = x, y
			}
			ls = e.lineEnd(ls) + 1
		}
		e.updateRow(&b, y, row, false)
	}
	e.drawModeLine(row)
	e.updateRow(&b, h-2, row, true)
	msg := []rune(e.Message())
	fillBlank(row)
	for i := 0; i < len(msg) && i < w-1; i++ {
		row[i] = uint32(msg[i])
	}
	e.updateRow(&b, h-1, row, false)
	if e.h.Mode != modeEdit {
		cx, cy = min(len(msg), w-1), h-1
	}
	b.WriteString("\x1b[" + strconv.Itoa(cy+1) + ";" + strconv.Itoa(cx+1) + "H")
	return []byte(b.String())
}

func fillBlank(row []uint32) {
	for i := range row {
		row[i] = ' '
	}
}

// drawLine lays out the line starting at ls into row; if point is on it,
// it returns point's column on screen. A line wider than the screen ends
// in '$'; the line with point scrolls sideways to show it, with a '$' in
// its first column.
func (e *Editor) drawLine(row []uint32, ls int) (int, bool) {
	w := len(row)
	p := int(e.h.Point)
	le := e.lineEnd(ls)
	here := p >= ls && p <= le
	shift := 0
	if here {
		if col := e.column(p); col >= w-1 {
			step := w - 8
			shift = ((col - 1) / step) * step
		}
	}
	fillBlank(row)
	col, cx := 0, 0
	for i := ls; i <= le; i++ {
		if i == p {
			cx = col - shift
		}
		if i == le {
			break
		}
		r := e.at(i)
		for _, c := range cells(r, col) {
			x := col - shift
			if x >= w-1 {
				row[w-1] = '$'
				return cx, here
			}
			if x >= 0 {
				row[x] = uint32(c)
			}
			col++
		}
	}
	if shift > 0 {
		row[0] = '$'
	}
	return cx, here
}

// cells is how r shows at column col.
func cells(r rune, col int) []rune {
	switch {
	case r == '\t':
		return []rune(strings.Repeat(" ", 8-col%8))
	case r < 0x20 || r == 0x7f:
		return []rune{'^', r ^ 0x40}
	}
	return []rune{r}
}

// drawModeLine lays out the mode line: file name, modified flag, column,
// position in the buffer.
func (e *Editor) drawModeLine(row []uint32) {
	name := e.FileName()
	if name == "" {
		name = "*scratch*"
	}
	mod := "-"
	if e.h.Modified {
		mod = "*"
	}
	s := fmt.Sprintf("-%s- uEmacs: %s -- C%d -- %s --", mod, name, e.column(int(e.h.Point)), e.where())
	rs := []rune(s)
	for i := range row {
		row[i] = '-'
		if i < len(rs) {
			row[i] = uint32(rs[i])
		}
	}
}

// where is Top, Bot, All or a percentage, like Emacs.
func (e *Editor) where() string {
	n := e.Len()
	top := int(e.h.Top)
	end := top
	for i := 0; i < e.textRows() && end <= n; i++ {
		end = e.lineEnd(end) + 1
	}
	switch {
	case top == 0 && end > n:
		return "All"
	case top == 0:
		return "Top"
	case end > n:
		return "Bot"
	}
	return strconv.Itoa(top*100/n) + "%"
}

// updateRow writes row y if it differs from what the screen shows.
func (e *Editor) updateRow(b *strings.Builder, y int, row []uint32, reverse bool) {
	w := len(row)
	for i, c := range row { // a control character would move the cursor
		if c < 0x20 || c >= 0x7f && c < 0xa0 {
			row[i] = '?'
		}
	}
	old := e.shadow[y*w : (y+1)*w]
	same := true
	for i := range row {
		same = same && old[i] == row[i]
	}
	if same {
		return
	}
	copy(old, row)
	b.WriteString("\x1b[" + strconv.Itoa(y+1) + ";1H")
	end := w
	if reverse {
		b.WriteString("\x1b[7m")
	} else {
		for end > 0 && row[end-1] == ' ' {
			end--
		}
	}
	for _, c := range row[:end] {
		b.WriteRune(rune(c))
	}
	if reverse {
		b.WriteString("\x1b[0m")
	} else if end < w {
		b.WriteString("\x1b[K")
	}
}
