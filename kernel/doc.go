// Package kernel is the tiny Mach-style kernel of FTM in Go (paper §2.3,
// distributed-os-survey.txt on ports and capabilities): nodes, tasks, ports
// and rights, messages, port sets, notifications, and the netmsg proxy that
// carries port messages between nodes over a link.
//
// A Node is one kernel instance. A Task is an execution context with its own
// name space: it names the rights it holds by task-local Names, so a task can
// reach only the ports it was given a right to — rights are the capabilities.
// A port is a kernel-protected message queue with exactly one receive right,
// any number of send rights (reference counted per name) and send-once
// rights (each under its own name). When a port dies, every name for it
// becomes a dead name.
//
// Messages carry a header (destination, reply port, id, the sender's
// recovery-unit id), an inline body, rights with their dispositions
// (move/copy/make send, make/move send-once, move receive), and out-of-line
// regions handed over without a copy. The *Message passed to Send belongs to
// the kernel from then on and is the one the receiver gets: a small local
// message costs no allocation in the kernel.
//
// Invariants, checked by the property tests:
//   - a live port has exactly one receive right (held by one task, or in
//     transit in exactly one message); a dead port has none;
//   - a port's send-right count equals the send references held in name
//     spaces plus those in transit in messages, and is never negative;
//     no-senders fires when it drops to zero;
//   - a message is delivered at most once, and in FIFO order per sender
//     and port; on a healthy link, exactly once.
//
// Blocking: a port (and a port set) has a cap-1 wake channel; a blocked
// receiver waits on it, with a select on ctx and the task's end only when
// ctx can end. Termination wakes receivers by closing the wake channels of
// the rights it destroys. No timer is armed unless a timeout is asked for.
//
// Links (linkread.go): a receiver blocked on a port that a link feeds reads
// the link itself, with no goroutine in between, and handles whatever
// frames it reads; local senders, termination and its context interrupt the
// read (link.Interrupter). The link's standby goroutine reads when no task
// has for a while, and takes over a frame a task cannot deliver at once.
//
// Recording (recorder.go): a task may have a Recorder, told of each
// message the task receives before the task can see it; an unrecorded
// message is held and offered again, never lost or delivered unrecorded.
//
// Wire (netmsg_wire.go): netmsg frames carry msgpack maps written and read
// by hand; a malformed body from a peer is ErrCorruptWire and ends the link,
// never a panic, and decoding never allocates more than the frame holds.
//
// Lock order: Node.mu is the kernel's one lock. It guards every name space,
// port and queue of the node and netmsg's tables too (peers, exports,
// proxies, pending lookups, the registry). Under it the kernel may arm or
// stop a lost link's dead-name timer, which takes the clock's own lock
// (clock.Manual's mu); the timer's function runs with no clock lock held and
// takes Node.mu. Node.mu is never held while blocking, sending on or closing
// a link (frame sends run after it is released, or in a goroutine Shutdown
// waits for), or calling a SafePoint hook, a Recorder or other user code;
// interrupting a link's read (link.Interrupter, which never blocks) happens
// under it.
// A recorded task's receive lock (recorderHook.mu) is taken before Node.mu
// and held across the receive and the Record call.
package kernel
