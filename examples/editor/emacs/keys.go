package emacs

import "unicode/utf8"

// Keys the editor binds (control characters).
const (
	ctrlSpace = 0x00
	ctrlA     = 0x01
	ctrlB     = 0x02
	ctrlD     = 0x04
	ctrlE     = 0x05
	ctrlF     = 0x06
	ctrlG     = 0x07
	ctrlH     = 0x08
	ctrlK     = 0x0b
	ctrlL     = 0x0c
	ctrlN     = 0x0e
	ctrlP     = 0x10
	ctrlS     = 0x13
	ctrlV     = 0x16
	ctrlW     = 0x17
	ctrlX     = 0x18
	ctrlY     = 0x19
	ctrlC     = 0x03
	esc       = 0x1b
	del       = 0x7f
)

// Key names for Input: the escape sequences of a VT100 keyboard are
// decoded too (arrows, Delete, Home, End, Page Up/Down).
const (
	keyUp rune = -1 - iota
	keyDown
	keyRight
	keyLeft
	keyDelete
	keyHome
	keyEnd
	keyPgUp
	keyPgDn
	keyMetaLess
	keyMetaMore
	keyMetaV
)

// Input applies the keyboard bytes p, numbered seq. Input already applied
// (seq <= Applied) is ignored, so a client may resend what it is not sure
// was kept: each input is applied exactly once. Sequence 0 is always
// applied (a caller without numbering).
func (e *Editor) Input(seq uint64, p []byte) bool {
	if seq != 0 && seq <= e.h.Applied {
		return false
	}
	for _, b := range p {
		e.byte(b)
	}
	if seq != 0 {
		e.h.Applied = seq
	}
	return true
}

// byte decodes one keyboard byte: escape sequences and UTF-8.
func (e *Editor) byte(b byte) {
	h := e.h
	switch {
	case h.UTF8N > 0 && b >= 0x80 && b < 0xc0:
		h.UTF8[h.UTF8N] = b
		h.UTF8N++
		if utf8.FullRune(h.UTF8[:h.UTF8N]) {
			r, _ := utf8.DecodeRune(h.UTF8[:h.UTF8N])
			h.UTF8N = 0
			e.key(r)
		}
		return
	case h.UTF8N > 0:
		h.UTF8N = 0
		e.key(utf8.RuneError)
	}
	switch h.Esc {
	case 1:
		e.afterEsc(b)
	case 2:
		e.escSeq(b)
	default:
		switch {
		case b == esc:
			h.Esc = 1
		case b >= 0xc0 && b < 0xf8:
			h.UTF8[0], h.UTF8N = b, 1
		case b >= 0x80:
			e.key(utf8.RuneError)
		default:
			e.key(rune(b))
		}
	}
}

func (e *Editor) afterEsc(b byte) {
	h := e.h
	h.Esc = 0
	switch b {
	case '[', 'O':
		h.Esc, h.EscParam = 2, 0
	case '<':
		e.key(keyMetaLess)
	case '>':
		e.key(keyMetaMore)
	case 'v', 'V':
		e.key(keyMetaV)
	case esc:
		h.Esc = 1
	default:
		e.cancelPrefixes()
		e.msg("M-%s is not bound", keyName(rune(b)))
	}
}

func (e *Editor) escSeq(b byte) {
	h := e.h
	if b >= '0' && b <= '9' {
		h.EscParam = h.EscParam*10 + (b - '0')
		return
	}
	if b == ';' {
		return
	}
	h.Esc = 0
	keys := map[byte]rune{'A': keyUp, 'B': keyDown, 'C': keyRight, 'D': keyLeft, 'H': keyHome, 'F': keyEnd}
	if k, ok := keys[b]; ok {
		e.key(k)
		return
	}
	if b == '~' {
		tilde := map[uint8]rune{1: keyHome, 3: keyDelete, 4: keyEnd, 5: keyPgUp, 6: keyPgDn, 7: keyHome, 8: keyEnd}
		if k, ok := tilde[h.EscParam]; ok {
			e.key(k)
		}
	}
}

func (e *Editor) cancelPrefixes() {
	e.h.CtlX = false
}

// key runs the command bound to key k in the current mode.
func (e *Editor) key(k rune) {
	h := e.h
	if k != ctrlX || h.CtlX {
		h.QuitAsked = h.QuitAsked && h.CtlX && k == ctrlC
	}
	switch h.Mode {
	case modeSearch:
		if e.searchKey(k) {
			return
		}
	case modeFindFile:
		e.miniKey(k)
		return
	}
	if h.CtlX {
		h.CtlX = false
		e.ctlX(k)
		return
	}
	h.MsgLen = 0
	vert, kill := h.LastVert, h.LastKill
	h.LastVert, h.LastKill = false, false
	if !e.motion(k, vert) && !e.edit(k, kill) {
		e.msg("%s is not bound", keyName(k))
	}
}

// ctlX runs the second key of a C-x command.
func (e *Editor) ctlX(k rune) {
	switch k {
	case ctrlF:
		e.h.Mode, e.h.MiniLen = modeFindFile, 0
		e.msg("Find file: ")
	case ctrlS:
		e.save()
	case ctrlC:
		if e.h.Modified && !e.h.QuitAsked {
			e.h.QuitAsked = true
			e.msg("Modified buffer not saved; C-x C-c again to quit")
			return
		}
		e.h.Quit = true
	case ctrlG:
		e.msg("Quit")
	default:
		e.msg("C-x %s is not bound", keyName(k))
	}
}

func keyName(k rune) string {
	switch {
	case k < 0:
		return "that key"
	case k < 0x20:
		return "C-" + string(rune(k+'`'))
	case k == del:
		return "DEL"
	}
	return string(k)
}
