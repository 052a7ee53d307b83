// Package failpoint arms a real node process to die or stall at named
// steps, for the kill-loop soak and the crash tests that run real processes
// with SIGKILL. It turns a spec, read by a binary from the environment
// variable FTM_FAILPOINTS, into the one failpoint hook type
// (kernel/failpoint.Hook) that the binary passes to the layers it builds
// (pair.StableConfig.Failpoint, which pair hands on to the stm banks and
// backups it makes; task.ServerConfig.Failpoint).
//
// The spec holds entries separated by ';', each
//
//	[NODE:]POINT=ACTION[@N]
//
// NODE limits the entry to the node of that name (both nodes of a pair
// started by `ftmctl pair up` inherit the same environment); POINT is a step
// name such as stm.phase1.shipped (stm.PrimaryFailpoints,
// stm.BackupFailpoints), task.checkpoint.save (task.FPCheckpointSave) or
// pair.takeover.begin (pair.FPTakeoverBegin); ACTION is kill (SIGKILL this
// process, the way `ftmctl crash` does) or sleep(DURATION) (stall there,
// e.g. to widen the window in which the partner is killed; at stm's points
// the stall holds the bank's lock); @N fires at the N-th time the point is
// reached in this process only (default: the first). Example:
//
//	FTM_FAILPOINTS='alpha:stm.phase1.shipped=kill@3;beta:pair.takeover.taken=sleep(300ms)'
//
// Invariant: only package main imports this package (a test checks it): a
// library never kills or stalls its process on its own, only through a
// hook a binary armed. The hook never returns an error: the process dies
// for real or goes on after the stall.
package failpoint
