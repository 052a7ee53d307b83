// Package files is the demo editor's file store (after ftm-lessons.txt
// §6.4: "file consistency and availability are not always ensured if a
// user's machine crashes"). Open files live in STM, in the bank of the
// stable task that uses them (not a reliable server of package servers); a
// save is atomic on the host file system and is part of the checkpoint.
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
