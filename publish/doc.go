// Package publish is Publishing (Powell & Presotto, publishing.txt), the
// project's second recovery mode beside the checkpointed stable task: a
// recorder logs every message a published task receives, the task is
// checkpointed on its own (no global action, no other task rolled back),
// and after a crash it is restarted from its last checkpoint and fed its
// logged messages again, while what it re-sends is discarded.
//
// The recorder (§3.1, recorder.go) is the task's kernel.Recorder: the
// kernel offers it each message the task receives, from a local sender or
// over a link, before the task can see it, and holds the message until it
// is recorded. Storage (§3.2, store.go) is an STM bank — mirrored, so the
// recorder survives its node's crash with that node's bank: per task, in
// namespace "publish", a head ("N/head": the kept log's range, the
// per-sender sequence numbers, the highest number the task has sent), a
// checkpoint ("N/ckpt") and one object per logged message in id ranges
// the bank reserves. A checkpoint is taken when the log has outgrown it
// (§5's rule, Rule) and discards the messages it covers in the same
// transaction.
//
// Detection and recovery (§3.3, §3.4; published.go, runtime.go): the
// Manager runs each task's Machine in incarnations on one goroutine. A
// panic is trapped and reported to the manager; the next incarnation
// restores the last checkpoint and replays the log in order. A message
// the recorder could not log (its bank refuses commits) is no crash: the
// kernel holds it and the task offers it again after Config.Backoff
// (Stats.Refused counts these). The task's kernel task and port outlive its
// incarnations, so no other task sees the crash, and messages sent to it
// meanwhile wait in its port for the new incarnation. Its sends are
// numbered; a recovering task's send whose number was already sent is
// dropped, until it sends one it had not sent before. After its node
// died, Manager.Takeover (the hook a node calls when it takes over the
// partner's bank) recovers the tasks the bank records on this node.
//
// Forwarding (§3.4, published.go deliver): a send to a peer whose port
// died (the peer moved to another node, or is between incarnations) is
// held, and sent with the same number to the peer's new port once
// Spec.Connect finds it again.
//
// Determinism (machine.go): a published Machine depends only on its
// messages. Env hands it a clock (the receive time of the message, as
// logged) and a random source (seeded by the task's seed and the
// message's log index) that are the same in a replay; VerifyReplay checks
// a machine in tests by replaying a run from a checkpoint and comparing
// the outputs.
//
// Groups (§6.2, group.go): GroupSpec publishes several machines as one
// task; what members tell each other (Env.Tell) is delivered within the
// handling of one received message, is not recorded, and the members are
// checkpointed and recovered together.
//
// Per-sender numbers (§3.2): a published task stamps each message it
// sends with its id and number (kernel.Message.SenderID, SenderSeq); the
// head keeps, per published sender, the last number received, and the
// recorder drops a message whose number it already logged. A node's death
// between a send and the commit of its number makes the survivor send
// that message again: a published receiver drops it; an unpublished one
// receives it twice.
//
// Invariants: a message reaches a published task only once it is in the
// log; the log holds, in receive order, exactly the messages received
// since the checkpoint; a checkpoint and the discarding of the messages
// it covers commit together; the numbers a task has sent only grow; a
// published receiver logs each number of a published sender at most once.
//
// Lock order: Published.mu and Manager.mu are leaves; no lock of this
// package is held across a kernel call or an STM transaction.
package publish
