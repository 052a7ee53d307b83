// Package screen is the reliable VT100 screen server of the demo editor
// (ftm-lessons.txt §6.4: "The VT100 server is simply implemented by
// storing a copy of the screen in STM. When it is restarted after a crash
// on the backup machine, the screen is updated with the old version of the
// screen stored in the backup bank.").
//
// Image (image.go, parse.go, edit.go, csi.go) is a pure VT100/ANSI
// interpreter: cells with attributes and colours, cursor, saved cursor,
// scroll region, modes, tab stops, and the parser's state between two
// writes. It does no I/O. It understands CR LF BS HT VT FF, ESC 7/8 D M E
// H c #8, and CSI A B C D E F G H f d e a ` J K L M @ P X S T r m g s u,
// h/l for IRM (4) and DEC modes 1, 6, 7, 25, and DECSTR; it skips OSC, DCS,
// charset designations and queries it cannot answer. Text is UTF-8; every
// character takes one column (wide East Asian characters are not laid out
// in two). Render (render.go) redraws a full image as escape sequences, so
// a terminal attached after a takeover shows exactly the saved screen.
//
// Server (server.go) keeps an image in an STM bank, one object per row and
// a header, and ships only the rows changed since the last checkpoint.
// Keyboard input from the terminal client carries sequence numbers; the
// server records the last one applied in the same transaction as the
// screen, so input resent by a client after a takeover is applied exactly
// once.
//
// Invariants: Write never fails and never panics on any input; the cursor
// is always on the screen; Cursor.WrapPending implies the cursor is in the
// last column; in origin mode the cursor is inside the scroll region;
// Render of an image, written to a fresh image of the same size, gives an
// Equal image (checked by FuzzWrite).
package screen
