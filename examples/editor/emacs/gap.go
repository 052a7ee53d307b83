package emacs

import (
	"strings"
	"unicode/utf8"
)

// Len is the buffer's length in characters.
func (e *Editor) Len() int { return len(e.text) - int(e.h.GapEnd-e.h.GapStart) }

// at is the character at offset i (0 <= i < Len).
func (e *Editor) at(i int) rune {
	if i >= int(e.h.GapStart) {
		i += int(e.h.GapEnd - e.h.GapStart)
	}
	return rune(e.text[i])
}

// moveGap puts the gap at offset pos.
func (e *Editor) moveGap(pos int) {
	gs, ge := int(e.h.GapStart), int(e.h.GapEnd)
	switch {
	case pos < gs:
		n := gs - pos
		copy(e.text[ge-n:ge], e.text[pos:gs])
		gs, ge = pos, ge-n
	case pos > gs:
		n := pos - gs
		copy(e.text[gs:gs+n], e.text[ge:ge+n])
		gs, ge = pos, ge+n
	}
	e.h.GapStart, e.h.GapEnd = uint32(gs), uint32(ge)
}

// insertRunes inserts rs at point and moves point after them; false when
// the buffer is full.
func (e *Editor) insertRunes(rs []rune) bool {
	if len(rs) > int(e.h.GapEnd-e.h.GapStart) {
		e.msg("Buffer is full (%d characters)", len(e.text))
		return false
	}
	p := int(e.h.Point)
	e.moveGap(p)
	for i, r := range rs {
		e.text[p+i] = uint32(r)
	}
	e.h.GapStart += uint32(len(rs))
	e.h.Point += uint32(len(rs))
	if e.h.MarkSet && int(e.h.Mark) > p {
		e.h.Mark += uint32(len(rs))
	}
	if len(rs) > 0 {
		e.h.Modified = true
	}
	return true
}

// deleteRange removes [from, to) and leaves point at from if it was inside.
func (e *Editor) deleteRange(from, to int) {
	if from >= to {
		return
	}
	e.moveGap(from)
	e.h.GapEnd += uint32(to - from)
	fix := func(p uint32) uint32 {
		switch {
		case int(p) >= to:
			return p - uint32(to-from)
		case int(p) > from:
			return uint32(from)
		}
		return p
	}
	e.h.Point, e.h.Mark, e.h.Top = fix(e.h.Point), fix(e.h.Mark), fix(e.h.Top)
	e.h.Top = uint32(e.lineStart(int(e.h.Top)))
	e.h.Modified = true
}

// slice returns the characters in [from, to).
func (e *Editor) slice(from, to int) []rune {
	rs := make([]rune, 0, to-from)
	for i := from; i < to; i++ {
		rs = append(rs, e.at(i))
	}
	return rs
}

// String is the buffer's whole text.
func (e *Editor) String() string {
	var b strings.Builder
	for i := 0; i < e.Len(); i++ {
		b.WriteRune(e.at(i))
	}
	return b.String()
}

// setText replaces the buffer with text (invalid UTF-8 becomes U+FFFD).
func (e *Editor) setText(data []byte) bool {
	n := utf8.RuneCount(data)
	if n > len(e.text) {
		return false
	}
	i := 0
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		e.text[i] = uint32(r)
		data = data[size:]
		i++
	}
	e.h.GapStart, e.h.GapEnd = uint32(n), uint32(len(e.text))
	e.h.Point, e.h.Mark, e.h.Top, e.h.MarkSet, e.h.Modified = 0, 0, 0, false, false
	return true
}

func (e *Editor) lineStart(p int) int {
	for p > 0 && e.at(p-1) != '\n' {
		p--
	}
	return p
}

func (e *Editor) lineEnd(p int) int {
	for n := e.Len(); p < n && e.at(p) != '\n'; {
		p++
	}
	return p
}

// width is how many columns r takes at column col.
func width(r rune, col int) int {
	switch {
	case r == '\t':
		return 8 - col%8
	case r < 0x20 || r == 0x7f:
		return 2 // ^X
	}
	return 1
}

// column is the display column of offset p.
func (e *Editor) column(p int) int {
	col := 0
	for i := e.lineStart(p); i < p; i++ {
		col += width(e.at(i), col)
	}
	return col
}

// offsetAtColumn is the offset on the line starting at ls nearest to
// column goal (not past the line's end).
func (e *Editor) offsetAtColumn(ls, goal int) int {
	col, p := 0, ls
	for n := e.Len(); p < n && e.at(p) != '\n'; p++ {
		w := width(e.at(p), col)
		if col+w > goal {
			break
		}
		col += w
	}
	return p
}
