// Package heartbeat detects the death of a partner node: the watchdog of a
// stable node pair (paper §2.2).
//
// Detector is a pure state machine: it is told when a heartbeat was heard and
// when time passed, and answers whether to send a heartbeat and whether the
// partner is now considered dead. Watcher.Watch is the thin driver that runs a Detector
// over a link.Link (the link's ServiceHeartbeat channel) with an injected clock.
// It echoes every beat it receives, from a goroutine of its own (a slow link
// never holds the receiver), and times the echoes of its own beats for
// Config.OnRoundTrip; every frame, beat or echo, is a sign of life.
//
// Invariants: a Detector declares death at most once, and never before Timeout
// has elapsed since the last heartbeat heard (or since it started); a link that
// fails is reported as a dead partner at once, because a killed process closes
// its sockets.
package heartbeat
