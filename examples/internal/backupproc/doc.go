// Package backupproc gives a one-process program (commands primes and
// mp3d) a backup bank in another process: the program is node "alpha"
// of a stable pair, and the same binary started again in its backup mode
// is node "beta", the backup of alpha's bank, linked over authenticated
// TCP on 127.0.0.1 exactly as two node processes (package node) are
// (pair.Node heartbeats, pair.Stable mirroring, stm remote commit).
//
// Invariants: the backup process never outlives the program — it serves
// until its standard input closes, which happens when the program exits,
// even killed with SIGKILL; the program's bank is returned at once and
// the checkpoints due before the backup holds a copy are refused (their
// pages carried into the first one after, package task), unless Wait is
// set. The binary reads the environment (the pair's secret, failpoints)
// and passes it in: this package reads none.
package backupproc
