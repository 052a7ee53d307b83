// Package ru implements recovery units and FTM's blocking consistent
// checkpoint and crash-recovery protocols (paper §4.1, §4.2, §4.2.4, §6.5,
// and §8.2.1's two phases when the initiator stopped first) as pure state
// machines in the style of etcd-io/raft: a Unit reads no
// clock, starts no goroutine and does no I/O, and neither does the Host
// that groups the units of one server or node. Inputs are Step (a
// protocol message), Tick (logical time), Checkpoint, and the call hooks
// the RPC path invokes (Admit, CallEnded, OutCallStarted/OutCallEnded,
// AddPred/AddSucc, MarkModified).
//
// Output comes the way etcd-raft's Ready does: Host.Ready states, per
// unit, everything its caller must do, and the caller does it in order,
// then calls Host.Advance:
//   - Precommit: precommit the server's state S into the action's STM group;
//   - Save: the unit record to write (all of a Ready's in one atomic write),
//     durable before anything below, with S in the same write when CommitS
//     says the RU committed within the step without a precommit;
//   - Msgs: the messages to send (Host.Pack packs them into one Envelope
//     per destination host: batching, §6.5);
//   - Decides: the STM groups to decide (the group S was precommitted
//     into, or an application initiator's whole action);
//   - Events: the RU ends (committed, aborted, cancelled) to apply to S,
//     with Reload saying when S must be restored from its last committed
//     version.
//
// Host.Restart rebuilds a crashed unit from the Store seam, which only
// loads, and returns its Recovery (the groups the crash left undecided,
// whether it waits precommitted). A record the caller could not save goes
// to Host.SaveFailed. The Host never writes storage: the driver (package
// servers) or a test harness over MemStore does.
//
// Invariants (checked by the randomized simulation in sim_test.go):
//   - no orphan: when every wave has ended, no committed or live RU has a
//     predecessor that aborted;
//   - closure: an RU commits only if each of its predecessors commits in the
//     same atomic action or had committed before;
//   - at most one decision per RU: an RU ends once, committed or aborted;
//   - progress: with no further crash and a fair network, every started
//     checkpoint and recovery ends within a bounded number of steps;
//   - a precommitted RU never decides alone: it waits for the initiator
//     (a member precommitted at a two-phase build withdraws only on its
//     initiator's cancel of that attempt);
//   - two phases only while nothing runs: a two-phase attempt that meets a
//     busy or chasing member, a merge or a call falls back to three phases;
//   - write-ahead: a unit's state is in a Save of the same or an earlier
//     Ready than any message, decide or event it caused, and an outgoing
//     call's record is durable before the call leaves.
//
// Concurrency: none inside. A Unit or Host is owned by one goroutine at a
// time (the driver, under its lock); MemStore alone is safe for concurrent
// use (mu guards its map). PROTOCOL.md in the parent directory is the full
// description.
package ru
