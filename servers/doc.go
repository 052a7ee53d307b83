// Package servers is FTM's reliable client-server model (paper §4–§5):
// recovery units, dependency tracking in the RPC path, and the checkpoint
// and crash-recovery protocols that commit or abort consistent sets of
// recovery units together.
//
// The protocol core lives in subpackage ru as pure state machines
// (messages, ticks and call hooks in; a Ready stating what to save,
// precommit, send, decide and apply out) so that it can be simulated
// exhaustively before it is wired to the kernel (ports, messages) and to
// stm (one transaction per server RU, the dependency graph in short
// transactions). PROTOCOL.md in this directory describes the protocol, its
// invariants, what the simulation checks and the message counts per
// checkpoint.
//
// Stable node pairs (package pair) and stable tasks (package task) are the
// layer above (docs/architecture.md, "Layers"); subpackage pager is the RVM
// pager as a reliable server.
//
// The programming model (server.go, method.go, errors.go, statecheck.go,
// client.go): a server is a plain Go state type S and one handler per
// Method. A Method[Req, Resp] is an operation's one declaration — name,
// attribute (Read or Update), request and reply types, declared errors —
// used both by Handle on the server and by Call on the client. Invariants:
// NewServer refuses a state type the codec would not keep whole (every
// field of S survives a checkpoint and a restart, or is tagged out on
// purpose); a handler's error that matches a declared error reaches the
// client as a *RemoteError that unwraps to it, on any node.
//
// Server state by object (collections.go, objects.go, stable.go,
// codec.go): S may hold Map and Log fields whose entries are STM objects
// of their own, written only when they change; S's object holds their
// headers. A checkpoint writes the changed entries and the header in one
// transaction (precommitted into the action's group, or committed with the
// unit's record); an abort reverts the changed entries from the bank; a
// crash or restart loads them all. S and entries encode without
// reflection through StateCodec and Codec. Invariants: an entry not
// changed since the last committed write is in the bank at its slot; a
// slot belongs to one key at a time and a removed key's slot is reused
// only after its removal committed; the entries a write puts commit or
// abort with the header naming them.
//
// A Driver runs the ru.Host of a node, one concern per file:
//   - driver.go, the runner: the receive and tick loops, the unit registry
//     and restarts;
//   - ready.go, the executor: it carries out each ru.Ready in its order
//     (precommit S, save the records in one short STM transaction, send,
//     decide the STM groups, apply the RU ends to S) and calls Advance;
//   - records.go, the record store: unit records, server states and
//     decided groups in the STM bank (writes only what a Ready asks for),
//     named in the bank's "servers" namespace;
//   - transport.go, the transport seam: protocol envelopes over kernel
//     ports found through the name service (subpackage names: persistent
//     port names re-bound after a restart), or in memory for tests;
//   - calls.go, the call path: each served or outgoing call's state as one
//     value, from admission or write-ahead record to its end;
//   - groupcommit.go, durable updates: an external client's update and its
//     output commit in one bank transaction, and one commit for a burst
//     of them (group commit).
//
// Containment (contain.go): a handler that panics fails its call — the
// client gets a *RemoteError unwrapping to ErrHandlerPanicked, with the
// value — and crashes its server's unit only, which restarts at once as a
// crashed process would (its RU aborts, S goes back to its last committed
// version); the node, the driver and the other servers run on. Deadlines
// (deadline.go): a request carries the time left to its caller's
// deadline, and the handler's context (and so its nested calls) ends
// when it has passed. Cancellation (cancel.go): a client that gives up
// sends a cancel message to the server's cancel port ("<name>/cancel"),
// which ends the context of that call if it is in progress.
//
// SERVERS.md describes the call path, the mapping onto STM, output commit
// for external clients and what the tests check; BENCH.md has the figures.
//
// Concurrency: a Driver's mu guards its ru.Host, its unit table and the
// record store's saved records, and is never held while sending or
// waiting; a Server serves one call at a time (callMu), S being touched by
// a call only between its admission and its end, and by the driver
// (precommit, reload) only when no call runs. A Client makes one call at a
// time (mu). Lock order: Server.callMu, then Client.mu (a server's nested
// client), then Driver.mu, then the record store's decidedSet.mu; no lock
// is taken under Driver.mu but that last one. Server and Client use the
// driver through its methods only.
package servers
