package screen

// Flag is a cell attribute bit (SGR).
type Flag uint8

// Attribute bits set by SGR.
const (
	Bold Flag = 1 << iota
	Dim
	Underline
	Blink
	Reverse
	Invisible
)

// Pen is how a cell is drawn: attribute bits and colours. A colour is 0 for
// the terminal's default, or 1+n for palette index n (0–255).
type Pen struct {
	Flags Flag   `codec:"f"`
	FG    uint16 `codec:"c"`
	BG    uint16 `codec:"b"`
}

// Cell is one character position of the screen.
type Cell struct {
	R   rune `codec:"r"`
	Pen Pen  `codec:"p"`
}

// blank is an erased cell drawn with pen's background (xterm's
// background-colour erase).
func blank(p Pen) Cell { return Cell{R: ' ', Pen: Pen{BG: p.BG}} }

// Cursor is the cursor and what DECSC saves with it.
type Cursor struct {
	X      int  `codec:"x"`
	Y      int  `codec:"y"`
	Pen    Pen  `codec:"p"`
	Origin bool `codec:"o"` // DECOM: rows count from the scroll region's top
	// WrapPending: a character was written in the last column with
	// autowrap on; the next printable character goes to the next line.
	WrapPending bool `codec:"w"`
}

// Mode is a set of terminal modes other than those saved with the cursor.
type Mode uint8

// Modes.
const (
	NoAutowrap   Mode = 1 << iota // DECAWM reset (autowrap is on by default)
	Insert                        // IRM
	CursorHidden                  // DECTCEM reset
	AppCursor                     // DECCKM: cursor keys send ESC O x
)

// Image is a VT100 screen: cells, cursor, modes, scroll region and the
// parser's state, so a write cut in the middle of an escape sequence goes
// on after a restore. Every field is exported so the image can be stored
// (msgpack) as it is; Rows and header encode it in pieces.
type Image struct {
	W     int    `codec:"w"`
	H     int    `codec:"h"`
	Cells []Cell `codec:"-"` // row-major, W*H; stored row by row
	Cur   Cursor `codec:"c"`
	Saved Cursor `codec:"s"`
	Top   int    `codec:"t"` // scroll region, 0-based, inclusive
	Bot   int    `codec:"b"`
	Mode  Mode   `codec:"m"`
	Tabs  []bool `codec:"tb"` // tab stop at column i
	Parse Parser `codec:"ps"`

	dirty []bool `codec:"-"` // rows changed since ClearDirty; not stored
}

// Limits on the screen size.
const (
	MaxWidth  = 500
	MaxHeight = 300
)

// New returns a blank W×H screen with the cursor at the top left. Sizes
// are clamped to 1..MaxWidth and 1..MaxHeight.
func New(w, h int) *Image {
	w, h = clamp(w, 1, MaxWidth), clamp(h, 1, MaxHeight)
	im := &Image{W: w, H: h}
	im.reset()
	return im
}

// reset is RIS: everything back to the power-on state.
func (im *Image) reset() {
	im.Cells = make([]Cell, im.W*im.H)
	for i := range im.Cells {
		im.Cells[i] = blank(Pen{})
	}
	im.Cur, im.Saved = Cursor{}, Cursor{}
	im.Top, im.Bot = 0, im.H-1
	im.Mode = 0
	im.Tabs = defaultTabs(im.W)
	im.Parse = Parser{}
	im.dirty = make([]bool, im.H)
	im.markRows(0, im.H-1)
}

func defaultTabs(w int) []bool {
	t := make([]bool, w)
	for i := 8; i < w; i += 8 {
		t[i] = true
	}
	return t
}

// At returns the cell at column x, row y (0-based).
func (im *Image) At(x, y int) Cell { return im.Cells[y*im.W+x] }

// Row returns row y's cells (shared with the image).
func (im *Image) Row(y int) []Cell { return im.Cells[y*im.W : (y+1)*im.W] }

// Text returns row y as a string with trailing blanks trimmed.
func (im *Image) Text(y int) string {
	row := im.Row(y)
	end := len(row)
	for end > 0 && row[end-1].R == ' ' {
		end--
	}
	rs := make([]rune, end)
	for i := range rs {
		rs[i] = row[i].R
	}
	return string(rs)
}

// DirtyRows returns the rows changed since the last ClearDirty, in order.
func (im *Image) DirtyRows() []int {
	var rows []int
	for y, d := range im.dirty {
		if d {
			rows = append(rows, y)
		}
	}
	return rows
}

// ClearDirty forgets which rows changed.
func (im *Image) ClearDirty() {
	for y := range im.dirty {
		im.dirty[y] = false
	}
}

func (im *Image) markRows(from, to int) {
	if len(im.dirty) != im.H {
		im.dirty = make([]bool, im.H)
	}
	for y := max(from, 0); y <= to && y < im.H; y++ {
		im.dirty[y] = true
	}
}

// Clone returns a deep copy of the image.
func (im *Image) Clone() *Image {
	c := *im
	c.Cells = append([]Cell(nil), im.Cells...)
	c.Tabs = append([]bool(nil), im.Tabs...)
	c.Parse.Params = append([]int(nil), im.Parse.Params...)
	c.dirty = make([]bool, im.H)
	return &c
}

func clamp(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}
