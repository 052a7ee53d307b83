// Package ru implements recovery units and FTM's blocking consistent
// checkpoint and crash-recovery protocols (paper §4.1, §4.2, §4.2.4, §6.5)
// as pure state machines in the style of etcd-io/raft: a Unit reads no
// clock, starts no goroutine and does no I/O. Inputs are Step (a protocol
// message), Tick (logical time), Checkpoint, and the call hooks the RPC path
// invokes (Admit, CallEnded, OutCallStarted/OutCallEnded, AddPred/AddSucc,
// MarkModified). Outputs come from Ready: messages to send, events (an RU
// committed, aborted, or an attempt was cancelled) and the State to persist
// through the Store seam before any message of the step is sent.
//
// A Host groups the units of one server or node, persists them, and packs
// their messages into one Envelope per destination host (batching, §6.5).
//
// Invariants (checked by the randomized simulation in sim_test.go):
//   - no orphan: when every wave has ended, no committed or live RU has a
//     predecessor that aborted;
//   - closure: an RU commits only if each of its predecessors commits in the
//     same atomic action or had committed before;
//   - at most one decision per RU: an RU ends once, committed or aborted;
//   - progress: with no further crash and a fair network, every started
//     checkpoint and recovery ends within a bounded number of steps;
//   - a precommitted RU never decides alone: it waits for the initiator.
//
// Concurrency: none inside. A Unit or Host is owned by one goroutine (the
// driver); MemStore alone is safe for concurrent use (mu guards its map).
// PROTOCOL.md in the parent directory is the full description.
package ru
