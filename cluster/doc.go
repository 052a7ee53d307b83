// Package cluster is the group's agreed state: the members, which node is
// primary and which is backup of each STM bank, each bank's epoch, and
// each node's lease, kept by an embedded consensus engine
// (hashicorp/raft, its log and stable store in raft-boltdb) so that the
// survivor of a pair can tell a dead partner from a cut link (paper §2.1:
// after a failure "the backup machine executes both the failed machine's
// jobs and its own jobs"; §3.3.2: a backup failure "does not affect the
// primary machine which is able to proceed with its work").
//
// Voters are the nodes; a pair gets a third voter, a witness that holds no
// bank (the node binary's --witness mode, which `ftmctl pair up` starts),
// so that either node with the witness is a majority.
//
// The seam. Consensus (Propose a Command, read the applied State) is all
// the rest of the package knows of the engine: Raft is the production
// member (one TCP port per member carrying raft's RPCs and proposals a
// follower forwards to the leader, every connection authenticated by an
// HMAC challenge over the group's secret, each in its own goroutine with a
// deadline); MemGroup is an in-memory group for deterministic tests, whose
// Cut stands for the minority side of a partition. Raft.Cut is the same on
// real processes (filter.go, for ftmctl partition): the dialer names itself
// inside the handshake, and a member's filter refuses and closes the
// connections to and from the members it cuts, both ways. State.Apply is the one
// writer of the state, deterministic (no clock, no randomness).
//
// Leases. A node's Lease is renewed every Renew by proposing OpRenew; a
// renewal that the group commits makes the lease valid for Duration from
// the moment the renewal *started* on the node's clock (t0), and lists the
// banks the node is primary of with no backup: those it may commit alone
// until t0+Duration (Lease.Alone, which stm asks before committing a
// transaction no backup mirrors). Another node may take a bank over
// (OpTakeover) only when (1) it is the bank's recorded backup and (2) the
// primary's lease count has stayed unchanged for ExpiryWait =
// Duration·(1+Drift)/(1−Drift) + Margin on the taker's own clock, counted
// from when the taker first saw that count applied; the group refuses the
// takeover if a renewal was applied meanwhile. The taker saw the count
// only after the renewal committed, which is after t0; with every clock's
// rate within Drift of real time, the holder's lease ends at most
// Duration/(1−Drift) of real time after t0, and the taker proposes at
// least ExpiryWait/(1+Drift) = Duration/(1−Drift) + Margin/(1+Drift)
// after it. So a node that loses the majority loses its lease, and stops
// committing alone and (through LeaseConfig.OnChange) stops its stable
// tasks, at least Margin/(1+Drift) before another node can take its banks
// over. The defaults (400 ms lease, renewed every 80 ms, 5 % drift, 60 ms
// margin) give an ExpiryWait of about 502 ms. Margin also covers the time
// between the holder's last check and the effect it guards; a holder
// paused longer than that between its check and its reply (SIGSTOP, a
// swap storm) can still send a reply after the takeover: the one case a
// time lease cannot fence, as for any lease.
//
// The fast path: a process proven gone (gone.go). A node never closes its
// link or its link listener while it may still commit (the node closes its
// banks first), and a killed process's sockets are closed by its kernel at
// once; so when the link ends and a connection to the partner's link port
// is refused, no process of the partner can commit any more, and its
// backup takes its banks over with OpTakeover Gone: no lease wait, and the
// takeover renews the taker's lease, so the bank commits alone at once.
// The group still checks that the taker is the bank's backup. Three things
// keep the figure (SIGKILL to the first durable update answered) at tens
// of milliseconds: the witness leads the group (leader.go: a node leading
// hands leadership over, and nodes stand for election after the witness),
// so a node's loss costs no election; a node restarted at once is no
// obstacle (every command a lease proposes carries its process's
// incarnation, and the first command of a new process orphans its old
// banks, which the backup then takes at once); and the clients' retries
// pause for milliseconds, not hundreds. A silent loss (a frozen process, a
// cut host) proves nothing: its lease must expire, but the other nodes'
// lease counts are watched all along (watch.go), so a takeover asked after
// the pair's heartbeat timeout starts from when the count was first seen,
// and is granted at once when the count has stood still for ExpiryWait.
//
// Timings, and why no live node is declared dead under load. The pair
// declares its partner dead after 20 missed heartbeats of 50 ms (1 s),
// and a silent primary's banks need, besides, its lease count standing
// still for ExpiryWait (≈ 502 ms) on the taker's clock: a live node is
// taken over only if both its heartbeats and its renewals (every 80 ms,
// each through the group's leader) stop for that long. These are the
// defaults `make test` ran under, load average 20–45 on two cores, with no
// false death seen; a silent loss therefore costs about the heartbeat
// timeout (≈ 1.1 s measured: docs/benchmarks.md), and lowering it would
// trade that margin away. A kill costs no timeout at all: the socket's
// end is acted on at once. Raft's own timings (heartbeat and election
// 300 ms for the witness, 600 ms for the nodes) matter only when the
// witness is lost.
//
// Why a bank with a backup cannot lose a commit: a primary commits alone
// only banks the group records with no backup, and it is the primary that
// records that (OpDropBackup, when its partner link is lost), through the
// majority; from then on the group refuses the old backup's takeover, so a
// stale copy never serves. If the primary is on the minority side it
// cannot record it, so it never commits alone, and the backup's copy,
// taken over after the lease wait, holds every commit the primary
// reported. Setting a backup (OpSetBackup) withdraws the bank from the
// primary's lone banks before it is proposed.
//
// A bank starts Mirrored (claimed, never committed alone): its primary
// does not commit it alone until it has had a backup and lost it, so if
// the primary dies before its backup was recorded, the partner that holds
// its copy may still take it over (after the same wait): every commit
// went through that partner.
//
// Placement (placement.go). With three or more nodes a bank that has no
// backup gets one where the group says: its primary proposes OpPlace with
// the nodes it is linked to, and Apply chooses among them the node that is
// neither the bank's primary nor a witness and holds the fewest banks
// (primary, backup, or target of a copy under way; ties by name), and
// records it as the bank's Target. The choice is in Apply, so every member
// records the same one, and two banks placed at once see each other's
// target in the count. Target only says where the copy goes: the bank
// still commits alone until its primary records the target as its backup
// (OpSetBackup, once the copy is complete, which clears Target), so only
// a node holding a complete copy can ever take the bank over.
//
// Invariants: each bank has at most one primary in State; OpTakeover
// succeeds only for the recorded backup (or any node while the bank is
// Mirrored with no backup recorded) and only while the old primary's
// lease count is the one the taker waited on, or for an orphan, or with
// the old primary's process proven gone; a node commits alone only with a
// valid lease whose grant listed the bank; a restarted node never claims
// back a bank its partner may hold a copy of.
package cluster
