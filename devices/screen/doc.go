// Package screen is the VT100 screen server of the demo editor, a reliable
// server of package servers (Reliable, reliable.go) or, without a driver,
// an image kept in STM by a Store. From ftm-lessons.txt §6.4: "The VT100 server is simply implemented by
// storing a copy of the screen in STM. When it is restarted after a crash
// on the backup machine, the screen is updated with the old version of the
// screen stored in the backup bank."
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
// Server (server.go) holds the image the program draws on, forwards the
// program's output to the attached terminals, and keeps the image durable
// through a Store: BankStore (store.go) keeps it in an STM bank, one object
// per row and a header, and ships only the rows changed since the last
// checkpoint. A terminal attaching (Serve) gets a full redraw of the image
// first — after a takeover, the image saved in the backup bank. Keyboard
// input carries sequence numbers given by the terminal side (Client,
// client.go): the server queues each number once, the program records the
// last one it applied in its own checkpointed state, tells the server after
// each checkpoint (Ack), and the client forgets only acked input; it sends
// the rest again after reconnecting, and the restarted program, told the
// restored number (SetApplied), applies each input exactly once. Frames
// (wire.go): kind, uvarint sequence, uvarint length, data. MakeRaw and
// TermSize (tty.go) set up the user's terminal.
//
// Reliable (reliable.go) is the screen server as a reliable server (§4.1,
// §6.1): a kernel port bound to its persistent name, a recovery unit, and
// two operations, Write (a program's output for the screen it names) and
// Forget (the program ended), both Updates: the caller's RU and the
// screen server's depend on each other. One server keeps the screens of
// several programs (a node runs one per bank, BANK/screen); each screen's
// device (a Server built without a Store) is the node's, found by name
// (ReliableConfig.Screens). The state (State) holds, per screen, the
// image's header, the STM object of each row, and the rows changed in the
// current RU; a checkpoint writes the changed rows as row objects in the
// transaction that precommits the state into the atomic action's group,
// so the images commit with the caller's RU and everything else the
// action holds, or not at all. When the unit's RU aborts (its unit
// crashed and restarted, or a unit it depends on aborted), the images go
// back to their last committed version (read back from the rows by the
// Restart hook, or by the first Write if that comes first) and every RU
// that drew on them aborts with it. A device made after the unit restored
// its image (a program restarted after a takeover) adopts that image at
// its first Write. Terminals and keyboard input stay local to the node
// running the device: input is not state of the RU (the client keeps
// what no checkpoint acknowledged, below), and the device keeps the input
// the program read until it is acknowledged, so a program rolled back
// and started again (SetApplied) reads it again.
//
// Limits: one screen size for the image's life (no SIGWINCH resize); every
// character one column wide; keys from one terminal at a time (two
// clients typing at once would number their input alike).
//
// Lock order: Server.mu before conn.mu; no lock is held while waiting on
// the program. Invariants: Write never fails and never panics on any input; the cursor
// is always on the screen; Cursor.WrapPending implies the cursor is in the
// last column; in origin mode the cursor is inside the scroll region;
// Render of an image, written to a fresh image of the same size, gives an
// Equal image (checked by FuzzWrite).
package screen
