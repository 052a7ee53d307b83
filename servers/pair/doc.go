// Package pair runs one node of a stable node pair (paper §2.2): it keeps a
// link to the partner node, watches the partner with heartbeats, and tells the
// layers above when the partner joined or died so they can mirror to it, or
// take over its work.
//
// Each node is primary for its own work and backup for its partner's STM bank.
// The node whose name sorts first dials; the other accepts. When the link
// drops, the dialer dials again, so a restarted partner rejoins by itself.
//
// Invariants: at most one partner link is live at a time; every link that
// ends produces exactly one PartnerLost event; the epoch grows by one each
// time a partner is lost, so work taken over is fenced from the stale owner.
//
// Lock order: Node.mu only; it is never held while calling a hook or doing I/O.
package pair
