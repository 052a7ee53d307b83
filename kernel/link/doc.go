// Package link carries frames between two nodes: the transport under the
// kernel's netmsg proxy (remote ports), STM mirroring and heartbeats. It plays
// the part of FTM's dedicated point-to-point link between the primary and
// the backup processor (ftm-lessons.txt §3.3.1, "Implementation of the Fast
// Serial Link") and of the Mach netmsgserver's transport: one ordered,
// authenticated channel per pair of nodes, with no general-purpose protocol
// above it.
//
// Implementations:
//   - TCP (Dial, Listen): a frame is a 4-byte big-endian length followed by
//     the msgpack array [service, kind, seq, body] (codec.go); a frame size
//     limit (Config.MaxFrame). With Config.TLS (tls.go), the link runs over
//     TLS 1.3 with mutual authentication: both ends present a certificate
//     signed by the cluster's CA (package linkcert makes them), the peer's
//     name is its certificate's (a dialer checks it is the Peer it expects,
//     a listener that knows its Peer refuses any other), both ends then send
//     a hello whose name must match, and every frame is encrypted and
//     integrity-protected. Without TLS (plain links, only when asked): a
//     shared-secret challenge-response handshake (handshake.go:
//     HMAC-SHA256 over both nonces, both names and the prover's role; both
//     directions authenticated; the secret never travels) and frames in the
//     clear.
//     A Listener authenticates the connections that arrive during an Accept
//     concurrently (listener.go), each within HandshakeTimeout and at most
//     MaxPending at once, so connections that never answer delay a genuine
//     peer by at most one handshake timeout. A large frame's buffer comes
//     from the link's Bodies, to which a receiver that kept the frame (a
//     backup bank) gives it back once nothing refers to it (bodies.go).
//   - MemLink (NewMemPair): in memory, with deterministic fault injection
//     (drop, delay on the injected clock, duplicate, reorder, cut) chosen by a
//     seeded generator or a script, for tests.
//   - Mux: one sub-link per Service over a single link, so ports, STM
//     mirroring, heartbeats and control share one connection. A channel's
//     Recv reads the parent link itself (one reader at a time, by a token)
//     and queues frames for other services, so a frame reaches a waiting
//     receiver without a goroutine hand-off; a standby goroutine reads
//     only while no Recv has waited for MuxIdleRead, or ahead of a
//     receiver busy with a large frame of a bulk transfer.
//
// Invariants: frames are delivered in order and at most once on a healthy
// link; a frame larger than the limit, or one that does not decode, ends the
// link with an error wrapping ErrFrameTooLarge or ErrCorruptFrame and is never
// delivered; the decoder never allocates more than the frame limit for one
// frame and never panics; a peer that fails authentication never gets a
// link (ErrAuth: ErrRejected, logged as a warning, when it proved it is
// not a member of the pair: a wrong secret, a certificate of another CA or
// naming another node, no TLS where TLS is configured; ErrHandshakeCut, logged as information, when
// the handshake timed out or was cut, as while a partner restarts); an Accept
// leaves no goroutine or unreturned connection behind. Library code logs through the configured
// *zap.Logger only.
//
// Interrupter (interrupt.go): a Recv on a TCP, TLS or in-memory link, a
// fault-wrapped one over such a link, or a Mux channel over such a parent,
// can be cut short by another goroutine's Interrupt (ErrInterrupted; the
// link lives on, a frame half read is finished by the next Recv), without
// arming anything per Recv: a read deadline in the past on TCP, a channel
// poke in memory. The kernel lets a task blocked on a port read its link
// and takes it out of the read so. A caller treats ErrInterrupted as a
// reason to look again: a Recv may, rarely, report one meant for an
// earlier reader of the same link.
//
// SendVec (vec.go) sends one frame whose body is the concatenation of the
// caller's parts with a single writev, without copying them (STM ships page
// versions this way); Mux channels pass it to the parent link.
//
// Lock order: TCP.sendMu before TCP.mu (fail takes mu from inside Send);
// TCP.sendMu guards the reusable write vector of SendVec;
// memShared.mu and memQueue.mu are never held together (Send decides under
// memShared.mu, then pushes); Mux.mu is a leaf; TCP.dlMu, faultLink.intrMu
// and muxLink.intrMu are leaves except that a channel's or a wrapper's
// Interrupt takes its parent's under its own. No lock is held while
// blocking on a channel or the network, except TCP.sendMu around one write.
package link
