// Package pair runs one node of a stable node pair (paper §2.2): it keeps a
// link to the partner node, watches the partner with heartbeats, and tells the
// layers above when the partner joined or died so they can mirror to it, or
// take over its work.
//
// Each node is primary for its own work and backup for its partner's STM bank.
// The node whose name sorts first dials; the other accepts. When the link
// drops, the dialer dials again, so a restarted partner rejoins by itself:
// its pauses double from Config.Redial up to Config.RedialMax, jittered, and
// every failure is logged. Timeouts and resets never stop it; only
// repeated refusals (link.ErrRejected: the partner does not share the
// secret, or its certificate is not of the cluster's CA or names another
// node) end Run.
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
// In-doubt groups. A takeover finds the groups the dead primary held in
// phase 2. StableConfig.Defer may leave some undecided for their owner (a
// reliable server's driver restarted on the bank asks the checkpoint's
// initiator: servers.PendingGroups); they keep their write locks in the new
// primary, are shipped to the next backup attached with the other phase 2
// transactions, and their owner's Bank.Decide applies the outcome on both
// (before a backup is attached, a commit applies on the primary with
// stm.ErrBackupLost and the attach copies it). The rest are decided by
// Resolve, abort by default (presumed abort). TakeoverTiming counts both.
//
// Fencing (partitions). When the link is cut while both nodes live, each
// declares the other dead and takes its bank over, so for a while both
// sides hold both banks and a stable task may run on both: its owner's copy
// and the copy the partner restarted from the last checkpoint. Two
// histories can still not diverge, for three reasons. (1) A bank commits
// only while its backup holds a copy (stm refuses otherwise:
// stm.ErrNoBackup), and each side's backups went with the link, so during
// the partition neither side commits anything: tasks run unprotected, their
// checkpoints refused, nothing they compute is reported committed. (2) A
// takeover raises the bank's epoch, so on relinking the hello exchange
// gives each bank to the copy with the higher epoch: the one taken over,
// which holds every commit its old primary reported (a primary cannot
// commit past a dead backup). (3) The loser's copy is closed (it can never
// commit again) and, before that, StableConfig.OnDrop tells the layer above,
// which stops the tasks running on it and discards their uncommitted work
// (task.Server.Abandon); a task that reaches its next checkpoint on a
// closed bank stops too. So after relinking each task runs on exactly one
// side, from the winner's state. If a side's backup had no complete copy
// when the link went (a re-attach in progress), it cannot take over and
// the owner's copy, alone, wins. Tested in-process (fencing_test.go, a cut
// of the in-memory link) and with real node processes cut by `ftmctl
// partition` (examples/failover: TestPartitionEndsWithOneTaskAndTheRightPrime
// and the soak's partition runs).
//
// Leases. With StableConfig.Leases (the group of package cluster, which
// the node fills in), a bank that lost its backup commits alone under
// this node's lease once the group records it without backup (the link's
// end makes the primary record it, leases.go), and a partner's bank is
// taken over only once the group gives it (the primary's lease expired,
// or its process restarted; all the partner's banks are asked for at
// once). Takeovers run beside the link loop (beside.go): the group may
// make one wait for a lease to expire, and meanwhile a partner restarted
// at once must be able to link; the next hello waits for the takeovers in
// flight, so the copies taken over win over a restarted partner's empty
// ones. With StableConfig.PartnerGone (the node probes the partner's link
// port) a partner proven gone is taken over without waiting for its lease. A node on the minority side of a partition cannot record
// anything, so it never commits alone, and its partner takes its banks
// over only after its lease ended: reason (1) below then reads "neither
// side commits without a backup unless the group's lease lets it, which
// only the majority side can hold". Without Leases, the rule below holds
// as written.
//
// Clusters (cluster.go). With StableConfig.Peers and Placement a Stable is a
// member of a cluster of three or more nodes rather than of a pair: the
// node runs one pair Node per peer, all sharing the one Stable, which keeps
// one session per live link. The pair's one-partner assumption is
// generalised only where it must be: (1) every bank has two services per
// link, one per direction (clusterService), so any bank can be mirrored
// over any link, and each side serves an idle backup for every bank on
// every link; (2) a bank held here is mirrored toward the node the group's
// placement chose (cluster.State.Place: a live node, not the primary nor
// a witness, with the fewest banks), not toward a fixed partner: the
// protect loop (Protect) finds every held bank without a mirror, records
// it without backup (it then commits alone under the lease), asks the
// group to place it among the peers linked now (OpPlace, recorded as the
// bank's Target), streams the placed node a full copy while commits go on
// (stm Bank.Attach, through a paced mirror that lets commits pass the copy,
// paced.go), and records the node as the backup once the copy is complete;
// then every commit is mirrored (Service Fabric's idle secondary: copy,
// catch up, mirror). A failure at any step leaves the bank committing
// alone with no backup recorded, and the loop starts again: the bank is
// protected or unprotected, never held by a backup that lacks its copy.
// (3) When a link ends, only the banks mirrored to that peer lose their
// backup, and only the banks the group records as held by that peer whose
// complete copy is here are asked of the group and taken over. A node
// whose own bank the group records as held by another (it restarted after
// a takeover) drops its fresh bank: it rejoins as a spare and holds no
// bank until placement makes it a backup. So k sequential failures are
// survived with k+2 nodes, each loss followed by a re-protection, as long
// as the group keeps a majority (node.RunWitnessNamed's witnesses).
//
// Failpoints. StableConfig.Failpoint (the one hook type,
// kernel/failpoint; nil in production) is called at the takeover's and the
// attach's steps (FPTakeoverBegin ...) and handed on to the stm banks and
// backups the Stable makes. Tests crash a step by returning an error
// (failpoint.go says what that abandons); a node binary arms it from
// FTM_FAILPOINTS (internal/failpoint) to SIGKILL itself or stall at a named
// step (stm's commit phases, a task's checkpoint commit, the takeover's
// steps), so the kill loop of `make soak` (examples/failover, soak.go) can
// kill a node during a checkpoint or during its partner's takeover. The
// package never reads the environment.
//
// Invariants: at most one link per peer is live at a time (a pair: one);
// every link that ends produces exactly one PartnerLost event; the link
// loop never waits for the group; a hello is sent only once no takeover is
// in flight; the epoch grows by one each
// time a partner is lost; a bank has exactly one holder once the hello of a
// link has been exchanged.
//
// Lock order: Stable.mu before Bank.mu and Backup.mu (stm); Node.mu and
// Stable.mu are never held while calling a hook, attaching, taking over,
// deciding a group, or doing link I/O.
package pair
