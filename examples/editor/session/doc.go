// Package session runs the demo editor (package emacs) as a stable task
// (ftm-lessons.txt §6.4): its arena is an RVM segment of the task, its
// screen image (devices/screen) and its open files (devices/files) are
// STM objects in the task's bank.
//
// Checkpoint policy for an interactive program: after each
// burst of input — everything queued when the editor gets to read — the
// editor's segment is checkpointed, then the screen image, then the
// clients are told (Ack) that the input is safe; a checkpoint that could
// not be taken (no backup) is retried every RetryEvery. The echo goes to
// the terminal before the checkpoint: a keystroke echoed but not yet
// checkpointed is still held by the client, which sends it again to the
// survivor, where the restored editor applies it (once: the number of the
// last input applied is in the segment).
//
// After a restore the editor redraws the whole screen first: the screen
// image may come from a checkpoint older than the editor's (they are two
// transactions), and the redraw makes the terminal show the editor's
// state whichever it was.
package session
