// Package failpoint is the one failpoint seam of every layer: a component
// (an STM bank or backup, a recovery-unit host, a server driver, a pair, a
// task server, the file server) takes a Hook in its config and calls it at
// each named step of its protocol, the way etcd-io/bbolt names a failpoint
// before every durability step.
//
// A nil Hook is off, and production leaves it nil. Tests return ErrCrash (or
// any error) from the hook to make the component behave as if it crashed at
// that step; each component's doc says what "crashed" means for it (an STM
// bank stops, a recovery unit loses its volatile state and restarts from its
// saved record). Real node processes in crash campaigns use a hook that
// SIGKILLs the process or stalls it; that hook is built by a binary from
// its flags or environment (internal/failpoint.Arm), never by a library.
// Nth crashes at the n-th hit of a point, for tests that count steps.
//
// Invariant: a hook is called with no lock of the caller held unless the
// component documents otherwise (stm's bank and backup call it under their
// lock, so a stall there holds the bank).
package failpoint
