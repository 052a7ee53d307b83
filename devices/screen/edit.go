package screen

// control executes a C0 control character.
func (im *Image) control(b byte) {
	switch b {
	case '\b':
		if im.Cur.X > 0 {
			im.Cur.X--
		}
		im.Cur.WrapPending = false
	case '\t':
		im.Cur.X = im.nextTab(im.Cur.X)
		im.Cur.WrapPending = false
	case '\n', '\v', '\f':
		im.index()
	case '\r':
		im.carriageReturn()
	}
	// BEL, SO, SI and the rest are ignored.
}

func (im *Image) nextTab(x int) int {
	for x++; x < im.W-1; x++ {
		if im.Tabs[x] {
			return x
		}
	}
	return im.W - 1
}

func (im *Image) carriageReturn() {
	im.Cur.X, im.Cur.WrapPending = 0, false
}

// print draws r at the cursor and advances it.
func (im *Image) print(r rune) {
	c := &im.Cur
	if c.WrapPending && im.Mode&NoAutowrap == 0 {
		im.carriageReturn()
		im.index()
	}
	if im.Mode&Insert != 0 {
		im.insertChars(1)
	}
	im.Cells[c.Y*im.W+c.X] = Cell{R: r, Pen: c.Pen}
	im.markRows(c.Y, c.Y)
	switch {
	case c.X < im.W-1:
		c.X++
	case im.Mode&NoAutowrap == 0:
		c.WrapPending = true
	}
}

// index moves the cursor down one row, scrolling the region at its bottom.
func (im *Image) index() {
	im.Cur.WrapPending = false
	switch {
	case im.Cur.Y == im.Bot:
		im.scrollUp(im.Top, im.Bot, 1)
	case im.Cur.Y < im.H-1:
		im.Cur.Y++
	}
}

// reverseIndex moves the cursor up one row, scrolling the region down at
// its top.
func (im *Image) reverseIndex() {
	im.Cur.WrapPending = false
	switch {
	case im.Cur.Y == im.Top:
		im.scrollDown(im.Top, im.Bot, 1)
	case im.Cur.Y > 0:
		im.Cur.Y--
	}
}

// scrollUp moves rows top..bot up by n, blanking n rows at the bottom.
func (im *Image) scrollUp(top, bot, n int) {
	n = min(n, bot-top+1)
	w := im.W
	copy(im.Cells[top*w:(bot+1-n)*w], im.Cells[(top+n)*w:(bot+1)*w])
	im.fill((bot+1-n)*w, (bot+1)*w, blank(im.Cur.Pen))
	im.markRows(top, bot)
}

// scrollDown moves rows top..bot down by n, blanking n rows at the top.
func (im *Image) scrollDown(top, bot, n int) {
	n = min(n, bot-top+1)
	w := im.W
	copy(im.Cells[(top+n)*w:(bot+1)*w], im.Cells[top*w:(bot+1-n)*w])
	im.fill(top*w, (top+n)*w, blank(im.Cur.Pen))
	im.markRows(top, bot)
}

func (im *Image) fill(from, to int, c Cell) {
	for i := from; i < to; i++ {
		im.Cells[i] = c
	}
}

// eraseDisplay is ED.
func (im *Image) eraseDisplay(mode int) {
	w, c := im.W, im.Cur
	b := blank(c.Pen)
	switch mode {
	case 0:
		im.fill(c.Y*w+c.X, len(im.Cells), b)
		im.markRows(c.Y, im.H-1)
	case 1:
		im.fill(0, c.Y*w+c.X+1, b)
		im.markRows(0, c.Y)
	case 2, 3:
		im.fill(0, len(im.Cells), b)
		im.markRows(0, im.H-1)
	}
}

// eraseLine is EL.
func (im *Image) eraseLine(mode int) {
	w, c := im.W, im.Cur
	b := blank(c.Pen)
	switch mode {
	case 0:
		im.fill(c.Y*w+c.X, (c.Y+1)*w, b)
	case 1:
		im.fill(c.Y*w, c.Y*w+c.X+1, b)
	case 2:
		im.fill(c.Y*w, (c.Y+1)*w, b)
	}
	im.markRows(c.Y, c.Y)
}

// eraseChars is ECH.
func (im *Image) eraseChars(n int) {
	c := im.Cur
	n = min(n, im.W-c.X)
	im.fill(c.Y*im.W+c.X, c.Y*im.W+c.X+n, blank(c.Pen))
	im.markRows(c.Y, c.Y)
}

// insertChars is ICH: n blanks at the cursor, the rest of the row shifts
// right and falls off the edge.
func (im *Image) insertChars(n int) {
	c := im.Cur
	row := im.Row(c.Y)
	n = min(n, im.W-c.X)
	copy(row[c.X+n:], row[c.X:im.W-n])
	for i := c.X; i < c.X+n; i++ {
		row[i] = blank(c.Pen)
	}
	im.markRows(c.Y, c.Y)
}

// deleteChars is DCH: n characters at the cursor go, the rest of the row
// shifts left and blanks come in at the right.
func (im *Image) deleteChars(n int) {
	c := im.Cur
	row := im.Row(c.Y)
	n = min(n, im.W-c.X)
	copy(row[c.X:], row[c.X+n:])
	for i := im.W - n; i < im.W; i++ {
		row[i] = blank(c.Pen)
	}
	im.Cur.WrapPending = false
	im.markRows(c.Y, c.Y)
}

// insertLines is IL: only inside the scroll region. The cursor stays
// where it is (as in tmux and the VT102 manual; the VT510 moves it to the
// first column).
func (im *Image) insertLines(n int) {
	if im.Cur.Y < im.Top || im.Cur.Y > im.Bot {
		return
	}
	im.scrollDown(im.Cur.Y, im.Bot, n)
	im.Cur.WrapPending = false
}

// deleteLines is DL: only inside the scroll region; the cursor stays.
func (im *Image) deleteLines(n int) {
	if im.Cur.Y < im.Top || im.Cur.Y > im.Bot {
		return
	}
	im.scrollUp(im.Cur.Y, im.Bot, n)
	im.Cur.WrapPending = false
}

// moveTo puts the cursor at column x, row y of the screen, or of the
// scroll region in origin mode, clamped.
func (im *Image) moveTo(x, y int) {
	top, bot := 0, im.H-1
	if im.Cur.Origin {
		top, bot = im.Top, im.Bot
		y += top
	}
	im.Cur.X, im.Cur.Y = clamp(x, 0, im.W-1), clamp(y, top, bot)
	im.Cur.WrapPending = false
}

// moveRows moves the cursor n rows (negative: up), stopping at the scroll
// region's bottom margin when it starts above it, at its top margin when
// it starts below that (as xterm and tmux do).
func (im *Image) moveRows(n int) {
	y := im.Cur.Y + n
	if n > 0 {
		bot := im.H - 1
		if im.Cur.Y <= im.Bot {
			bot = im.Bot
		}
		y = min(y, bot)
	} else {
		top := 0
		if im.Cur.Y >= im.Top {
			top = im.Top
		}
		y = max(y, top)
	}
	im.Cur.Y = clamp(y, 0, im.H-1)
	im.Cur.WrapPending = false
}

func (im *Image) moveCols(n int) {
	im.Cur.X = clamp(im.Cur.X+n, 0, im.W-1)
	im.Cur.WrapPending = false
}

func (im *Image) restoreCursor() {
	im.Cur = im.Saved
	im.Cur.X, im.Cur.Y = clamp(im.Cur.X, 0, im.W-1), clamp(im.Cur.Y, 0, im.H-1)
	if im.Cur.Origin {
		im.Cur.Y = clamp(im.Cur.Y, im.Top, im.Bot)
	}
	if im.Cur.X != im.W-1 {
		im.Cur.WrapPending = false
	}
}

// setRegion is DECSTBM; it homes the cursor.
func (im *Image) setRegion(top, bot int) {
	if bot > im.H || bot == 0 {
		bot = im.H
	}
	if top < 1 {
		top = 1
	}
	if top >= bot {
		return
	}
	im.Top, im.Bot = top-1, bot-1
	if im.Saved.Origin { // keep a saved origin-mode cursor inside the region
		im.Saved.Y = clamp(im.Saved.Y, im.Top, im.Bot)
	}
	im.moveTo(0, 0)
}

// alignment is DECALN: fill the screen with E.
func (im *Image) alignment() {
	im.fill(0, len(im.Cells), Cell{R: 'E'})
	im.Top, im.Bot = 0, im.H-1
	im.Cur.Origin = false
	im.moveTo(0, 0)
	im.markRows(0, im.H-1)
}
