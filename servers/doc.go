// Package servers is FTM's reliable client-server model (paper §4–§5):
// recovery units, dependency tracking in the RPC path, and the checkpoint
// and crash-recovery protocols that commit or abort consistent sets of
// recovery units together.
//
// The protocol core lives in subpackage ru as pure state machines (messages
// and ticks in; messages, events and state to persist out) so that it can
// be simulated exhaustively before it is wired to the kernel (ports,
// messages) and to stm (one transaction per server RU, the dependency graph
// in short transactions). PROTOCOL.md in this directory describes the
// protocol, its invariants, what the simulation checks and the message
// counts per checkpoint.
//
// Subpackage pair runs one member of a stable node pair (link, heartbeats,
// STM mirroring both ways, takeover, re-protection), and subpackage task
// runs stable tasks (RVM segments checkpointed by a policy, re-entered from
// the last checkpoint, restarted by the task server after a takeover).
//
// Not yet here (needs kernel and stm): the typed stubs and dispatch around
// a programmer's resource type, persistent ports and the name server, the
// duplicate table kept in the server's STM state, and the driver that runs
// ru.Host over kernel ports with a kernel/clock ticker.
package servers
