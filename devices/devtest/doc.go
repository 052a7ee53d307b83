// Package devtest is the test kit of the reliable device servers (screen,
// files) and of the programs that use them: one kernel node, one STM bank
// mirrored to an in-memory backup, a servers.Driver per host name, servers
// run until the rig stops, application clients, and a crash of every
// process (Crash: drivers, servers and kernel tasks dropped, the bank
// kept) or of the machine (Takeover: the backup bank becomes the primary).
//
// Invariants: a server Run returned by Serve is bound (its name resolves)
// before Serve returns; after Crash nothing of the previous incarnation
// runs, and the next Host call starts a new driver over the same bank.
package devtest
