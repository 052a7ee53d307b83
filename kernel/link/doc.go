// Package link carries frames between two nodes: the transport under the
// kernel's netmsg proxy (remote ports), STM mirroring and heartbeats.
//
// Implementations: a TCP link with length-prefixed msgpack frames, a frame size
// limit and a shared-secret challenge-response handshake; and an in-memory link
// with deterministic fault injection (drop, delay, duplicate, reorder, cut) for
// tests. A Mux splits one link into per-Service channels.
//
// Invariants: frames are delivered in order and at most once on a healthy link;
// a frame larger than the limit, or one that does not decode, ends the link
// with an error and is never delivered; a link never allocates more than the
// frame limit for one frame.
package link
