// Package files is the demo editor's file store (after ftm-lessons.txt
// §6.4: "file consistency and availability are not always ensured if a
// user's machine crashes"). Open files live in STM, in the bank of the
// stable task that uses them; a save is atomic on the host file system.
//
// Reliable (reliable.go) is the file server as a reliable server of
// package servers: a kernel port bound to its persistent name, a recovery
// unit, and two operations, OpenFile and SaveFile, both Updates (§4.1), so
// a program calling them through its recovery unit records its
// dependencies on the server and the server's on it.
//
// A save is an external output committed before it is acknowledged: the
// SaveFile handler commits the new content and its generation to STM in a
// transaction of its own (mirrored to the backup bank: without a backup
// the save fails with stm.ErrNoBackup), then writes the file to disk
// (WriteAtomic), and only then answers; the server's RU records the
// generation. We chose "durable in the bank, then written, before the
// reply" over "written after the server's RU commits" because a save is
// output to the world outside the recovery units, which no rollback can
// take back: holding the editor's "Wrote" until the RU commits would need
// a checkpoint of the whole atomic action (the editor's RU, its segments,
// the screen) in the middle of a keystroke, whereas the save's own
// transaction makes it durable at once, and Recover finishes it on the
// survivor if the node dies between the commit and the write. If the
// caller's RU is rolled back afterwards, its re-execution saves the same
// content again, which is harmless (below: at least once, seen once).
//
// A save is two steps. First the new content and a new save generation
// are committed to STM (Save, or SaveTx inside the caller's own checkpoint
// transaction): from then on the save will happen, on this node or on the
// backup after a takeover. Then Flush writes every file whose generation
// is ahead of the one on disk with WriteAtomic (a temporary file in the
// same directory, fsync, rename over the file, fsync of the directory) and
// commits the generation as written. Recover, run by a node that took the
// bank over, redoes the saves committed but not known written and removes
// temporary files a crash left behind. Writing the same content twice is
// harmless, so a save is done at least once and seen exactly once.
//
// Invariants: the file on disk holds either its content before a save or
// after it, never part of both (rename is atomic, and the data is synced
// before it); a save acknowledged to the caller is in STM on both banks;
// the generation on disk never goes ahead of the committed one.
//
// Failpoints (Config.Failpoint, the one hook type kernel/failpoint.Hook,
// called with the file's path as subject; nil in production) name every
// step of WriteAtomic: files.save.created, files.save.half, files.save.written,
// files.save.synced, files.save.closed, files.save.renamed,
// files.save.dirsynced. The crash test kills a real child process at each
// one with SIGKILL and checks the file.
package files
