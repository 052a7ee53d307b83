package emacs

// motion runs a cursor-motion command; false if k is not one.
func (e *Editor) motion(k rune, vert bool) bool {
	h := e.h
	p, n := int(h.Point), e.Len()
	switch k {
	case ctrlF, keyRight:
		p = min(p+1, n)
	case ctrlB, keyLeft:
		p = max(p-1, 0)
	case ctrlA, keyHome:
		p = e.lineStart(p)
	case ctrlE, keyEnd:
		p = e.lineEnd(p)
	case ctrlN, keyDown, ctrlP, keyUp:
		p = e.vertical(k == ctrlN || k == keyDown, vert)
	case keyMetaLess:
		e.setMark(p, false)
		p = 0
	case keyMetaMore:
		e.setMark(p, false)
		p = n
	case ctrlV, keyPgDn:
		p = e.page(1)
	case keyMetaV, keyPgUp:
		p = e.page(-1)
	case ctrlL:
		e.full = true
		e.recenter(p)
	default:
		return false
	}
	h.Point = uint32(p)
	return true
}

// vertical moves to the next or previous line, keeping the goal column.
func (e *Editor) vertical(down, keepGoal bool) int {
	h := e.h
	p := int(h.Point)
	if !keepGoal {
		h.Goal = uint32(e.column(p))
	}
	h.LastVert = true
	ls := e.lineStart(p)
	if down {
		le := e.lineEnd(p)
		if le >= e.Len() {
			return p
		}
		ls = le + 1
	} else {
		if ls == 0 {
			return p
		}
		ls = e.lineStart(ls - 1)
	}
	return e.offsetAtColumn(ls, int(h.Goal))
}

// page scrolls a screenful (less two lines) forward or back and puts
// point at the top of the window.
func (e *Editor) page(dir int) int {
	h := e.h
	rows := max(e.textRows()-2, 1)
	top := int(h.Top)
	for i := 0; i < rows; i++ {
		if dir > 0 {
			le := e.lineEnd(top)
			if le >= e.Len() {
				break
			}
			top = le + 1
		} else {
			if top == 0 {
				break
			}
			top = e.lineStart(top - 1)
		}
	}
	h.Top = uint32(top)
	return top
}

// edit runs an editing command; false if k is not one.
func (e *Editor) edit(k rune, lastKill bool) bool {
	h := e.h
	p := int(h.Point)
	switch {
	case k == ctrlD || k == keyDelete:
		e.deleteRange(p, min(p+1, e.Len()))
	case k == del || k == ctrlH:
		e.deleteRange(max(p-1, 0), p)
	case k == '\r' || k == '\n':
		e.insertRunes([]rune{'\n'})
	case k == ctrlK:
		e.killLine(lastKill)
	case k == ctrlW:
		e.killRegion()
	case k == ctrlY:
		e.yank()
	case k == ctrlSpace:
		e.setMark(p, true)
	case k == ctrlG:
		h.MarkSet = false
		e.msg("Quit")
	case k == ctrlS:
		e.startSearch()
	case k == ctrlX:
		h.CtlX = true
	case k == '\t' || k >= 0x20 && k != del:
		e.insertRunes([]rune{k})
	default:
		return false
	}
	return true
}

func (e *Editor) setMark(p int, say bool) {
	e.h.Mark, e.h.MarkSet = uint32(p), true
	if say {
		e.msg("Mark set")
	}
}

// killLine is C-k: kill to the end of the line, or the newline at its end;
// consecutive kills append.
func (e *Editor) killLine(appendKill bool) {
	p := int(e.h.Point)
	end := e.lineEnd(p)
	if end == p && end < e.Len() {
		end++
	}
	if !appendKill {
		e.h.KillLen = 0
	}
	e.addKill(e.slice(p, end))
	e.deleteRange(p, end)
	e.h.LastKill = true
}

// killRegion is C-w: kill between mark and point.
func (e *Editor) killRegion() {
	if !e.h.MarkSet {
		e.msg("The mark is not set now")
		return
	}
	from, to := int(e.h.Mark), int(e.h.Point)
	if from > to {
		from, to = to, from
	}
	e.h.KillLen = 0
	e.addKill(e.slice(from, to))
	e.deleteRange(from, to)
	e.h.LastKill = true
}

func (e *Editor) addKill(rs []rune) {
	n := int(e.h.KillLen)
	if n+len(rs) > len(e.kill) {
		rs = rs[:len(e.kill)-n]
		e.msg("Kill too long: kept the first %d characters", len(e.kill))
	}
	for i, r := range rs {
		e.kill[n+i] = uint32(r)
	}
	e.h.KillLen += uint32(len(rs))
}

// yank is C-y: insert the kill buffer at point, mark at its start.
func (e *Editor) yank() {
	rs := make([]rune, e.h.KillLen)
	for i := range rs {
		rs[i] = rune(e.kill[i])
	}
	start := int(e.h.Point)
	if e.insertRunes(rs) {
		e.setMark(start, false)
	}
}

// save is C-x C-s.
func (e *Editor) save() {
	name := e.FileName()
	if name == "" {
		e.msg("No file name: visit one with C-x C-f")
		return
	}
	text := e.String()
	if err := e.files.Save(name, []byte(text)); err != nil {
		e.msg("Cannot save: %v", err)
		return
	}
	e.h.Modified = false
	e.h.Saves++
	e.msg("Wrote %d characters to %s", e.Len(), name)
}

// Visit replaces the buffer with the file's content.
func (e *Editor) Visit(name string) {
	data, err := e.files.Open(name)
	if err != nil {
		e.msg("Cannot open %s: %v", name, err)
		return
	}
	if !e.setText(data) {
		e.msg("%s is too large for the editor (%d characters at most)", name, len(e.text))
		return
	}
	e.setName(name)
	e.full = true
	e.msg("Visiting %s (%d characters)", name, e.Len())
}

// miniKey edits the file name typed after C-x C-f.
func (e *Editor) miniKey(k rune) {
	h := e.h
	switch {
	case k == '\r' || k == '\n':
		h.Mode = modeEdit
		name := string(runes(h.Mini[:h.MiniLen]))
		switch {
		case name == "":
			e.msg("No file name given")
		case h.Modified:
			e.msg("Buffer modified: save it (C-x C-s) before visiting another file")
		default:
			e.Visit(name)
		}
		return
	case k == ctrlG:
		h.Mode = modeEdit
		e.msg("Quit")
		return
	case k == del || k == ctrlH:
		h.MiniLen = uint32(max(int(h.MiniLen)-1, 0))
	case k >= 0x20 && int(h.MiniLen) < miniCap:
		h.Mini[h.MiniLen] = uint32(k)
		h.MiniLen++
	}
	e.msg("Find file: %s", string(runes(h.Mini[:h.MiniLen])))
}

func runes(u []uint32) []rune {
	rs := make([]rune, len(u))
	for i, c := range u {
		rs[i] = rune(c)
	}
	return rs
}

// startSearch is C-s: incremental search forward.
func (e *Editor) startSearch() {
	h := e.h
	h.Mode, h.SearchLen, h.SearchOrigin, h.SearchFail = modeSearch, 0, h.Point, false
	e.searchMsg()
}

// searchKey handles a key during incremental search; false when the key
// ends the search and is to run as a command.
func (e *Editor) searchKey(k rune) bool {
	h := e.h
	switch {
	case k == ctrlS:
		if h.SearchLen == 0 {
			return true
		}
		e.find(int(h.Point))
	case k == ctrlG:
		h.Mode, h.Point = modeEdit, h.SearchOrigin
		e.msg("Quit")
	case k == del || k == ctrlH:
		h.SearchLen = uint32(max(int(h.SearchLen)-1, 0))
		e.find(int(h.SearchOrigin))
	case k == '\r':
		h.Mode = modeEdit
		e.setMark(int(h.SearchOrigin), false)
		e.msg("Mark saved where search started")
	case k >= 0x20 || k == '\t':
		if int(h.SearchLen) < searchCap {
			h.Search[h.SearchLen] = uint32(k)
			h.SearchLen++
		}
		e.find(int(h.Point) - int(h.SearchLen) + 1)
	default:
		h.Mode = modeEdit
		e.setMark(int(h.SearchOrigin), false)
		return false
	}
	return true
}

// find looks for the search string from offset from; point goes after
// the match.
func (e *Editor) find(from int) {
	h := e.h
	s := h.Search[:h.SearchLen]
	h.SearchFail = false
	for i := max(from, 0); i+len(s) <= e.Len(); i++ {
		if e.matchAt(i, s) {
			h.Point = uint32(i + len(s))
			e.searchMsg()
			return
		}
	}
	if len(s) > 0 {
		h.SearchFail = true
	}
	e.searchMsg()
}

func (e *Editor) matchAt(i int, s []uint32) bool {
	for j, c := range s {
		if uint32(e.at(i+j)) != c {
			return false
		}
	}
	return true
}

func (e *Editor) searchMsg() {
	prefix := "I-search: "
	if e.h.SearchFail {
		prefix = "Failing I-search: "
	}
	e.msg("%s%s", prefix, string(runes(e.h.Search[:e.h.SearchLen])))
}
