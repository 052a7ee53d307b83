package emacs

import (
	"errors"
	"fmt"
	"unsafe"
)

// magic marks an arena the editor has initialised ("uEmacsG1").
const magic = 0x3147_7363_616d_4575

// Limits of the arena's fixed areas.
const (
	MaxWidth   = 256
	MaxHeight  = 128
	killCap    = 64 << 10 // runes in the kill buffer
	nameCap    = 1024     // bytes of the file name
	msgCap     = 512      // bytes of the message line
	miniCap    = 256      // runes typed in the minibuffer
	searchCap  = 128      // runes of the search string
	shadowCap  = MaxWidth * MaxHeight
	DefaultMem = 2 << 20 // a 2 MiB arena holds about 400,000 characters
)

// Modes of the keyboard.
const (
	modeEdit     uint8 = iota
	modeSearch         // C-s incremental search
	modeFindFile       // C-x C-f: typing a file name
)

// header is the editor's state at the start of the arena. It holds no
// pointer (the arena is an RVM segment: restored as bytes).
type header struct {
	Magic            uint64
	Applied          uint64 // last input sequence number applied
	W, H             uint32 // screen size
	GapStart, GapEnd uint32 // the gap of the text's gap buffer
	Point, Mark      uint32
	Top              uint32 // buffer offset of the first line on screen
	Goal             uint32 // column C-n/C-p aim at
	KillLen          uint32
	SearchOrigin     uint32
	NameLen, MsgLen  uint32
	MiniLen          uint32
	SearchLen        uint32
	Saves            uint32 // saves done, for the mode line
	UTF8             [4]byte
	UTF8N            uint8
	Esc              uint8 // 0, 1 after ESC, 2 after ESC [ or ESC O
	EscParam         uint8 // digit after ESC [ (ESC [ 3 ~ is Delete)
	CtlX             bool  // C-x typed, waiting for the next key
	Mode             uint8
	MarkSet          bool
	Modified         bool
	LastKill         bool // the last command killed: C-k appends
	LastVert         bool // the last command was C-n or C-p: keep Goal
	QuitAsked        bool // C-x C-c on a modified buffer: again quits
	Quit             bool
	SearchFail       bool
	Name             [nameCap]byte
	Msg              [msgCap]byte
	Mini             [miniCap]uint32
	Search           [searchCap]uint32
}

// Files is what the editor needs of a file server.
type Files interface {
	Open(path string) ([]byte, error)
	Save(path string, data []byte) error
}

// Editor is a micro-emacs-like editor whose whole state is in an arena of
// bytes (an RVM segment in a stable task). It does no I/O: Input feeds
// keys, Redisplay returns what to write to the screen.
type Editor struct {
	mem    []byte
	h      *header
	kill   []uint32 // kill buffer, KillLen used
	shadow []uint32 // what each screen row shows, W per row
	text   []uint32 // gap buffer
	files  Files
	// full: the next Redisplay clears and redraws the whole screen (set
	// at New: after a restore the terminal may show anything).
	full     bool
	restored bool // the arena was in use before New
}

// ErrArena is returned for an arena too small or misaligned.
var ErrArena = errors.New("emacs: arena too small or misaligned")

func offsets() (kill, shadow, text int) {
	kill = align(int(unsafe.Sizeof(header{})))
	shadow = kill + 4*killCap
	text = shadow + 4*shadowCap
	return
}

func align(n int) int { return (n + 63) &^ 63 }

// New returns the editor living in mem. A fresh arena (all zero) starts an
// empty buffer with a w×h screen; an arena a checkpoint restored goes on
// where it stopped (w and h are then ignored).
func New(mem []byte, w, h int, files Files) (*Editor, error) {
	_, _, textOff := offsets()
	if len(mem) < textOff+4*1024 || uintptr(unsafe.Pointer(&mem[0]))%8 != 0 {
		return nil, fmt.Errorf("%w: %d bytes (need more than %d)", ErrArena, len(mem), textOff+4*1024)
	}
	e := &Editor{mem: mem, files: files, full: true}
	e.h = (*header)(unsafe.Pointer(&mem[0]))
	killOff, shadowOff, _ := offsets()
	e.kill = u32s(mem[killOff:shadowOff])
	e.shadow = u32s(mem[shadowOff:textOff])
	e.text = u32s(mem[textOff:])
	e.restored = e.h.Magic == magic
	if !e.restored {
		if w < 10 || h < 3 || w > MaxWidth || h > MaxHeight {
			return nil, fmt.Errorf("emacs: screen %dx%d out of range (10x3 to %dx%d)", w, h, MaxWidth, MaxHeight)
		}
		*e.h = header{Magic: magic, W: uint32(w), H: uint32(h), GapEnd: uint32(len(e.text))}
	}
	return e, nil
}

func u32s(b []byte) []uint32 {
	return unsafe.Slice((*uint32)(unsafe.Pointer(&b[0])), len(b)/4)
}

// Restored reports whether the editor went on from an existing arena.
func (e *Editor) Restored() bool { return e.restored }

// Size is the screen size.
func (e *Editor) Size() (w, h int) { return int(e.h.W), int(e.h.H) }

// Applied is the sequence number of the last input applied.
func (e *Editor) Applied() uint64 { return e.h.Applied }

// Quit reports whether the user asked to leave (C-x C-c).
func (e *Editor) Quit() bool { return e.h.Quit }

// Modified reports unsaved changes.
func (e *Editor) Modified() bool { return e.h.Modified }

// FileName is the file the buffer visits ("" for none).
func (e *Editor) FileName() string { return string(e.h.Name[:e.h.NameLen]) }

// Message is the message line's text.
func (e *Editor) Message() string { return string(e.h.Msg[:e.h.MsgLen]) }

// Point is the cursor's offset in the buffer, in characters.
func (e *Editor) Point() int { return int(e.h.Point) }

func (e *Editor) setName(s string) {
	n := copy(e.h.Name[:], s)
	e.h.NameLen = uint32(n)
}

func (e *Editor) msg(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if len(s) > msgCap {
		s = s[:msgCap]
	}
	e.h.MsgLen = uint32(copy(e.h.Msg[:], s))
}
