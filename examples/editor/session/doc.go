// Package session runs the demo editor (package emacs) as a stable task
// (ftm-lessons.txt §6.4), in one of two ways.
//
// As a recovery unit (RunRU, ru.go; the task has task.Config.Unit): the
// editor's RU is the task's client, its segments (the emacs arena "text",
// the input "journal", and the task's "heap" holding its Progress object)
// are units of the pager, and it draws on a reliable screen server
// (devices/screen, screen.Write) and opens and saves files through a
// reliable file server (devices/files), both called by its RU. Each
// checkpoint is then one atomic action of five recovery units (§6.1): the
// editor's RU, its three segments and the screen (the file server joins
// when the editor called it since the last checkpoint). When a server the
// editor depends on loses its RU (its unit crashed), the editor's RU
// aborts and the task runtime rolls the editor back to its last
// checkpoint and enters it again; the screen server queues again the
// input the editor had read since (screen.Server.SetApplied), so it goes
// on with every keystroke. A save is acknowledged ("Wrote") only once the
// file server committed it (devices/files doc.go).
//
// Directly on STM (Run, session.go): the arena is an RVM segment of the
// task, the screen image and the open files are STM objects of the
// task's bank, committed after the segment, in a transaction of their
// own; after a restore the whole screen is redrawn, as the image may come
// from a checkpoint older than the editor's.
//
// Checkpoint policy for an interactive program (both ways): after each
// burst of input — everything queued when the editor gets to read — the
// editor is checkpointed, then the clients are told (Ack) that the input
// is safe; a checkpoint that could not be taken (no backup) is retried
// every RetryEvery. The echo goes to the terminal before the checkpoint:
// a keystroke echoed but not yet checkpointed is still held by the
// client, which sends it again to the survivor, where the restored editor
// applies it (once: the number of the last input applied is in the
// arena).
package session
