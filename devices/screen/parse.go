package screen

import "unicode/utf8"

// Parser states.
const (
	stGround  uint8 = iota
	stEscape        // after ESC
	stEscSkip       // ESC ( x and friends: skip one more byte
	stEscHash       // ESC #
	stCSI           // ESC [
	stString        // OSC, DCS, APC, PM: skipped until BEL or ST
	stStrEsc        // ESC inside a string: ST if followed by '\'
)

// Limits of a control sequence; longer ones are truncated, not refused.
const (
	maxParams   = 16
	maxParamVal = 9999
)

// Parser is the interpreter's state between two bytes: where it is in an
// escape sequence and a partial UTF-8 character.
type Parser struct {
	State   uint8   `codec:"s"`
	Params  []int   `codec:"p"`
	Cur     int     `codec:"c"` // parameter being read, -1 when none yet
	Private byte    `codec:"v"` // '?', '>', '=' or '<' right after CSI
	Inter   byte    `codec:"i"` // last intermediate byte (0x20–0x2f)
	UTF8    [4]byte `codec:"u"`
	UTF8N   int     `codec:"n"`
}

// Write interprets p as terminal output. It never fails and never panics:
// malformed sequences are dropped and invalid UTF-8 shows as U+FFFD.
func (im *Image) Write(p []byte) (int, error) {
	for _, b := range p {
		im.byte(b)
	}
	return len(p), nil
}

// WriteString is Write for a string.
func (im *Image) WriteString(s string) (int, error) {
	for i := 0; i < len(s); i++ {
		im.byte(s[i])
	}
	return len(s), nil
}

func (im *Image) byte(b byte) {
	ps := &im.Parse
	if ps.UTF8N > 0 && (b < 0x80 || b >= 0xc0) {
		// A sequence cut short by a new character or a control.
		ps.UTF8N = 0
		im.print(utf8.RuneError)
	}
	switch {
	case b == 0x18 || b == 0x1a: // CAN, SUB abort a sequence
		ps.State = stGround
		return
	case b == 0x1b:
		if ps.State == stString || ps.State == stStrEsc {
			ps.State = stStrEsc
			return
		}
		im.startEscape()
		return
	}
	switch ps.State {
	case stGround:
		im.ground(b)
	case stEscape:
		im.escape(b)
	case stEscSkip:
		ps.State = stGround
	case stEscHash:
		ps.State = stGround
		if b == '8' {
			im.alignment()
		}
	case stCSI:
		im.csiByte(b)
	case stString:
		if b == 0x07 {
			ps.State = stGround
		}
	case stStrEsc:
		ps.State = stString
		if b == '\\' {
			ps.State = stGround
		}
	default:
		ps.State = stGround
	}
}

func (im *Image) startEscape() {
	ps := &im.Parse
	ps.State, ps.Params, ps.Cur, ps.Private, ps.Inter = stEscape, ps.Params[:0], -1, 0, 0
}

func (im *Image) ground(b byte) {
	switch {
	case b < 0x20:
		im.control(b)
	case b < 0x7f:
		im.print(rune(b))
	case b == 0x7f:
		// DEL is ignored.
	default:
		im.utf8Byte(b)
	}
}

func (im *Image) utf8Byte(b byte) {
	ps := &im.Parse
	if ps.UTF8N == 0 && b < 0xc0 {
		im.print(utf8.RuneError) // a stray continuation byte or a C1 byte
		return
	}
	ps.UTF8[ps.UTF8N] = b
	ps.UTF8N++
	if !utf8.FullRune(ps.UTF8[:ps.UTF8N]) {
		return
	}
	buf := ps.UTF8
	n := ps.UTF8N
	ps.UTF8N = 0
	r, size := utf8.DecodeRune(buf[:n])
	if r >= 0x80 && r < 0xa0 {
		r = utf8.RuneError // C1 controls are not drawn
	}
	im.print(r)
	for _, c := range buf[size:n] { // bytes after an invalid prefix
		im.byte(c)
	}
}

func (im *Image) escape(b byte) {
	ps := &im.Parse
	ps.State = stGround
	switch b {
	case '[':
		ps.State = stCSI
	case ']', 'P', '_', '^', 'X':
		ps.State = stString
	case '(', ')', '*', '+', '-', '.', '/', ' ':
		ps.State = stEscSkip
	case '#':
		ps.State = stEscHash
	case '7':
		im.Saved = im.Cur
	case '8':
		im.restoreCursor()
	case 'D':
		im.index()
	case 'M':
		im.reverseIndex()
	case 'E':
		im.carriageReturn()
		im.index()
	case 'H':
		im.Tabs[im.Cur.X] = true
	case 'c':
		im.reset()
	default:
		if b < 0x20 {
			im.control(b) // executed inside the sequence, like a VT100
			ps.State = stEscape
		}
		// '=', '>' (keypad modes) and unknown finals are ignored.
	}
}

func (im *Image) csiByte(b byte) {
	ps := &im.Parse
	switch {
	case b >= '0' && b <= '9':
		if ps.Cur < 0 {
			ps.Cur = 0
		}
		ps.Cur = min(ps.Cur*10+int(b-'0'), maxParamVal)
	case b == ';' || b == ':':
		im.pushParam()
		ps.Cur = 0
	case b >= '<' && b <= '?':
		if len(ps.Params) == 0 && ps.Cur < 0 {
			ps.Private = b
		}
	case b >= 0x20 && b <= 0x2f:
		ps.Inter = b
	case b >= 0x40 && b <= 0x7e:
		if ps.Cur >= 0 {
			im.pushParam()
		}
		ps.State = stGround
		im.csi(b)
	case b < 0x20:
		im.control(b)
	default:
		ps.State = stGround // 0x7f and above end a broken sequence
	}
}

func (im *Image) pushParam() {
	ps := &im.Parse
	if len(ps.Params) < maxParams {
		ps.Params = append(ps.Params, max(ps.Cur, 0))
	}
}

// param returns parameter i, or def when it is missing or zero.
func (im *Image) param(i, def int) int {
	if i < len(im.Parse.Params) && im.Parse.Params[i] != 0 {
		return im.Parse.Params[i]
	}
	return def
}
