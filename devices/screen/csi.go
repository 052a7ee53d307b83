package screen

// csi executes a complete control sequence ESC [ params final.
func (im *Image) csi(final byte) {
	ps := &im.Parse
	if ps.Inter != 0 {
		if ps.Inter == '!' && final == 'p' { // DECSTR soft reset
			im.softReset()
		}
		return
	}
	switch ps.Private {
	case 0:
	case '?':
		if final == 'h' || final == 'l' {
			im.privateModes(final == 'h')
		}
		return
	default:
		return // '>' '=' '<' queries: nothing to answer them with
	}
	if im.cursorCSI(final) {
		return
	}
	im.editCSI(final)
}

// cursorCSI executes the cursor-motion sequences; false if final is not
// one of them.
func (im *Image) cursorCSI(final byte) bool {
	n := im.param(0, 1)
	c := &im.Cur
	switch final {
	case 'A':
		im.moveRows(-n)
	case 'B', 'e':
		im.moveRows(n)
	case 'C', 'a':
		im.moveCols(n)
	case 'D':
		im.moveCols(-n)
	case 'E':
		im.moveRows(n)
		im.carriageReturn()
	case 'F':
		im.moveRows(-n)
		im.carriageReturn()
	case 'G', '`':
		c.X, c.WrapPending = clamp(n-1, 0, im.W-1), false
	case 'd':
		im.moveTo(c.X, n-1)
	case 'H', 'f':
		im.moveTo(im.param(1, 1)-1, n-1)
	case 's':
		im.Saved = im.Cur
	case 'u':
		im.restoreCursor()
	default:
		return false
	}
	return true
}

// editCSI executes the erase, insert, delete, scroll and mode sequences.
func (im *Image) editCSI(final byte) {
	n := im.param(0, 1)
	switch final {
	case 'J':
		im.eraseDisplay(im.param(0, 0))
	case 'K':
		im.eraseLine(im.param(0, 0))
	case 'L':
		im.insertLines(n)
	case 'M':
		im.deleteLines(n)
	case '@':
		im.insertChars(n)
	case 'P':
		im.deleteChars(n)
	case 'X':
		im.eraseChars(n)
	case 'S':
		im.scrollUp(im.Top, im.Bot, n)
	case 'T':
		im.scrollDown(im.Top, im.Bot, n)
	case 'r':
		im.setRegion(im.param(0, 1), im.param(1, im.H))
	case 'm':
		im.sgr()
	case 'g':
		im.clearTabs(im.param(0, 0))
	case 'h', 'l':
		if im.param(0, 0) == 4 {
			im.setMode(Insert, final == 'h')
		}
	}
	// DSR (n), DA (c) and the rest ask for answers a screen image cannot
	// send; they are ignored.
}

func (im *Image) clearTabs(mode int) {
	switch mode {
	case 0:
		im.Tabs[im.Cur.X] = false
	case 3:
		for i := range im.Tabs {
			im.Tabs[i] = false
		}
	}
}

func (im *Image) setMode(m Mode, on bool) {
	if on {
		im.Mode |= m
	} else {
		im.Mode &^= m
	}
}

// privateModes is DECSET/DECRST for each parameter.
func (im *Image) privateModes(on bool) {
	for _, p := range im.Parse.Params {
		switch p {
		case 1:
			im.setMode(AppCursor, on)
		case 6:
			im.Cur.Origin = on
			im.moveTo(0, 0)
		case 7:
			im.setMode(NoAutowrap, !on)
			if !on {
				im.Cur.WrapPending = false
			}
		case 25:
			im.setMode(CursorHidden, !on)
		}
	}
}

func (im *Image) softReset() {
	im.Mode &^= Insert | NoAutowrap | CursorHidden | AppCursor
	im.Cur.Origin, im.Cur.Pen, im.Cur.WrapPending = false, Pen{}, false
	im.Top, im.Bot = 0, im.H-1
	im.Saved = Cursor{}
}

// sgr is Select Graphic Rendition: attributes and colours of the pen.
func (im *Image) sgr() {
	ps := im.Parse.Params
	if len(ps) == 0 {
		im.Cur.Pen = Pen{}
		return
	}
	for i := 0; i < len(ps); i++ {
		i += im.sgrOne(ps, i)
	}
}

// sgrOne applies parameter ps[i] and returns how many following
// parameters it used.
func (im *Image) sgrOne(ps []int, i int) int {
	p := &im.Cur.Pen
	switch v := ps[i]; {
	case v == 0:
		*p = Pen{}
	case v == 1:
		p.Flags |= Bold
	case v == 2:
		p.Flags |= Dim
	case v == 4:
		p.Flags |= Underline
	case v == 5:
		p.Flags |= Blink
	case v == 7:
		p.Flags |= Reverse
	case v == 8:
		p.Flags |= Invisible
	case v == 22:
		p.Flags &^= Bold | Dim
	case v == 24:
		p.Flags &^= Underline
	case v == 25:
		p.Flags &^= Blink
	case v == 27:
		p.Flags &^= Reverse
	case v == 28:
		p.Flags &^= Invisible
	case v >= 30 && v <= 37:
		p.FG = uint16(v-30) + 1
	case v == 39:
		p.FG = 0
	case v >= 40 && v <= 47:
		p.BG = uint16(v-40) + 1
	case v == 49:
		p.BG = 0
	case v >= 90 && v <= 97:
		p.FG = uint16(v-90) + 9
	case v >= 100 && v <= 107:
		p.BG = uint16(v-100) + 9
	case v == 38 || v == 48:
		return im.extendedColour(ps, i, v == 38)
	}
	return 0
}

// extendedColour reads 38;5;n (palette) or 38;2;r;g;b (direct colour,
// which this image does not keep: the colour is left unchanged).
func (im *Image) extendedColour(ps []int, i int, fg bool) int {
	if i+1 >= len(ps) {
		return 0
	}
	switch ps[i+1] {
	case 5:
		if i+2 >= len(ps) {
			return 1
		}
		c := uint16(min(ps[i+2], 255)) + 1
		if fg {
			im.Cur.Pen.FG = c
		} else {
			im.Cur.Pen.BG = c
		}
		return 2
	case 2:
		return min(4, len(ps)-i-1)
	}
	return 1
}
