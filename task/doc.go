// Package task runs stable tasks (paper §4.3): ordinary Go functions whose
// memory lives in RVM segments that are checkpointed by a policy and
// restored when the task is started again — after a crash, on the backup
// node.
//
// A task is re-entered from its entry function after a restore (a
// goroutine's stack cannot be captured): Segment gives it back its segments
// as they were at the last checkpoint, and the program continues from the
// progress it recorded there. The program writes no failure-handling code;
// it calls Poll at convenient points (a safe point) and, optionally,
// Progress so a work-based policy knows how far it is.
//
// A checkpoint due at a Poll stops the task only while its dirty pages are
// found and copied; the copy is committed in the background, one commit in
// flight at most (flight.go). Checkpoint, and the last checkpoint of Run,
// wait for the commit.
//
// The task server (Server) records tasks in their node's STM bank (the
// object named "table" in the "task" namespace; a task's segments are
// named "task<id>/<segment>" in rvm's and dropped when its end is
// recorded), restarts
// a bank's running tasks after a takeover and lists its ended ones with
// their results (Resume), removes an ended task when the operator says so
// (Remove; ids are never reused: the highest given is the object "last"),
// and stops and forgets
// the tasks of a bank superseded by the partner's copy after a partition
// (Abandon; pair doc.go, fencing).
//
// Recovery units (unit.go, rollback.go, object.go; the paper's §4.1,
// §4.2, §6.1): a task with Config.Unit (every task of a server with
// ServerConfig.Units: the node gives the drivers of its banks, Units) is
// a recovery unit. Its application client runs on its bank's current
// driver; a program's calls to reliable servers go through Client and
// record their dependencies; each segment is the unit of a pager server
// (servers/pager) the task starts on the same driver, so its checkpoint
// store is the pager and a checkpoint is one atomic action of the task's
// RU, its segments' RUs and the servers it called. The task asks for the
// driver at each checkpoint: with none (the bank refuses commits) the
// checkpoint is skipped and counted, as for want of a backup; after the
// driver changed (its units restarted) the next checkpoint saves whole
// segments, and, if the program used its client since its last
// checkpoint, the RU counts as aborted. A segment is restored from its
// unit's committed state read from the bank (pager.ReadCommitted), with
// or without a driver; a checkpoint group a crash left in doubt there
// holds that state until it is decided, so the restore waits for the
// decision (indoubt.go): it reads again, attaches the task's units as
// soon as the bank has a driver and starts the units of the segments the
// group names that the program has not mapped yet (their restart, with
// the client's, decides the group), logs the wait, and fails with
// ErrInDoubt after UnitConfig.InDoubtWait. A segment that could not be
// restored is forgotten (the program may map it again). Abort means
// rollback: when the task's RU aborts
// (servers.ErrAborted from a call, a checkpoint or Client), the runtime
// restores the segments in place to the last checkpoint and re-enters
// the program from the top; views into them (rvm.View, Object) stay
// valid. Object allocates named, typed stable objects in the task's heap
// segment. A task server's task ends with one last atomic action: its
// end and result (UnitConfig.Final, written in the transaction that
// precommits a segment's unit) and the drop of every segment's pages
// (pager.Pager.Drop) commit together with its RU, so a task killed just
// after it completed is listed done on the survivor and leaves no page in
// the bank (its units' small records stay).
//
// Programs (program.go): a program may declare its arguments (Args,
// ServerConfig.Args): Start refuses arguments the declaration refuses,
// in one line and before anything is recorded (Check says the same
// without starting). WithState gives a program its state as one value of
// a plain type in a segment, refusing at registration a type a
// checkpoint could not keep (rvm.ErrNotPlain).
//
// Containment (contain.go): a program that panics fails its task only —
// Run returns ErrPanicked with the value, the server records the task as
// failed with it and logs the stack; the node and its other tasks run on.
// A program may declare a restart policy (Restart, ServerConfig.Restart;
// none by default): after a panic — only a panic, a returned error is a
// failure — the server waits its Backoff and re-enters the program from
// the task's last checkpoint, as Resume does after a takeover, up to Max
// times over the task's life (Record.Restarts and PanicRestarts are
// committed in the task table first, so a takeover keeps the count); the
// panic after the last restart fails the task (restart.go).
//
// Failpoints: Config.Failpoint (ServerConfig.Failpoint for a server's
// tasks; the one hook type, kernel/failpoint; nil in production) is called
// before and after each checkpoint commit, by the pager between its saves
// and the atomic action, and by a server before it records a task's end
// (failpoint.go). A node binary
// arms it from FTM_FAILPOINTS (internal/failpoint) to kill or stall its
// process there; the package never reads the environment.
//
// Invariants: a checkpoint is taken only inside Poll or Checkpoint, on the
// task's own goroutine, so it never sees a half-done step; the segments of
// a task are saved atomically when the store is an rvm.BatchStore; the
// store holds, at every moment, the whole of one checkpoint (the pages of a
// refused commit are carried into the next).
package task
