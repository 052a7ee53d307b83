// Package pair runs one node of a stable node pair (paper §2.2): it keeps a
// link to the partner node, watches the partner with heartbeats, and tells the
// layers above when the partner joined or died so they can mirror to it, or
// take over its work.
//
// Each node is primary for its own work and backup for its partner's STM bank.
// The node whose name sorts first dials; the other accepts. When the link
// drops, the dialer dials again, so a restarted partner rejoins by itself.
//
// Stable (stable.go) puts STM on the pair: each node is primary for its own
// bank and backup for its partner's. When a link comes up both sides send
// the banks they hold (hello.go: name, epoch, last commit sequence) and
// agree on one holder per bank (higher epoch, then higher sequence, then the
// node it is named after). The bank named after the dialer mirrors on
// link.ServiceSTM, the other on link.ServiceSTMPeer, so a bank keeps its
// service when it moves. When the partner is lost, every backup it fed is
// taken over (takeover.go: stm Backup.Takeover, in-doubt groups resolved,
// each step timed); when a node rejoins, both banks are attached to it again
// (re-protection), so a second failure is survived too.
//
// Invariants: at most one partner link is live at a time; every link that
// ends produces exactly one PartnerLost event; the epoch grows by one each
// time a partner is lost; a bank has exactly one holder once the hello of a
// link has been exchanged.
//
// Lock order: Stable.mu before Bank.mu and Backup.mu (stm); Node.mu and
// Stable.mu are never held while calling a hook, attaching, taking over,
// deciding a group, or doing link I/O.
package pair
