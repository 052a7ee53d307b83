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
// Invariants: a checkpoint is taken only inside Poll or Checkpoint, on the
// task's own goroutine, so it never sees a half-done step; the segments of
// a task are saved atomically when the store is an rvm.BatchStore.
package task
