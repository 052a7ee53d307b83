// Package node is the FTM node daemon as a library: one node of a stable
// pair, carrying the stable programs and reliable servers its binary
// registers. A node binary is a main that registers what it carries and
// hands over to Main:
//
//	func main() {
//		node.Main(
//			node.Program("primes", sieve.Run).WithArgs(sieve.Args), // a stable task
//			node.Server("kv", kv.New, node.Op(kv.Put), node.Op(kv.Get)), // a reliable server
//		)
//	}
//
// `ftmctl pair up --exec ./mynode` starts two such processes (without
// --exec, the default node binary examples/ftmnode, which registers the
// demos). Run does the same in-process, for tests and for programs that
// parse their own flags.
//
// What a node does (Run):
//   - Links and membership: it listens on its pair.json address (or
//     Config.Listen) and links to its partner over mutual TLS 1.3 with its
//     certificate of the pair's CA (DIR/tls by default, package
//     kernel/link/linkcert), which authenticates both ends by name and
//     encrypts every frame; with Config.PlainLinks, over TCP authenticated
//     by the pair's secret and unencrypted. It watches the partner with
//     heartbeats (pair.Node); ftmctl partition and slow act on its links
//     when the pair allows faults, and a partition cuts the group's
//     consensus traffic to and from the members it names too
//     (cluster.Raft.Cut; groupfault.go).
//   - STM on the pair (pair.Stable): it is primary for its own bank and
//     backup for its partner's. When the partner dies it takes its bank
//     over: the stable tasks recorded there resume from their last
//     checkpoint, and the reliable servers start again from their saved
//     states; in-doubt checkpoint groups owned by a server's unit
//     (servers.PendingGroups) are left to that unit's restarted driver,
//     other in-doubt groups are presumed aborted. A partner that comes
//     back is protected again (re-protection: it becomes the backup).
//   - Clusters (cluster.go): when pair.json names more than two nodes
//     (`ftmctl cluster up N`), the node links to every other node, one
//     pair.Node per peer behind one listener that hands each link to its
//     peer's Node by the authenticated name, and its Stable runs in
//     cluster mode: each bank's backup is placed by the group and placed
//     again when lost (pair/doc.go, "Clusters"); a node restarted after
//     its bank was taken over rejoins as a spare. The group's voters are
//     the nodes and N−1 witnesses (RunWitnessNamed).
//   - Stable tasks (task.Server): each registered Program can be started
//     by `ftmctl run`; tasks are checkpointed by control.DefaultPolicy. A
//     task that panics fails alone, or is re-entered from its last
//     checkpoint as its registration's WithRestart policy allows. Every
//     task is a recovery unit (BANK/task<ID>) on its bank's driver, which
//     the node provides (reliableServers is task.Units): its segments are
//     units of pager servers it starts there, and its checkpoints atomic
//     actions (task/doc.go). With failpoints of STM or the pair armed the
//     servers are off and tasks checkpoint into STM directly.
//   - Published tasks (publish; published.go): each program registered
//     with Published runs as BANK/NAME on every bank the node holds as
//     primary, under a publish.Manager of that bank; a bank taken over has
//     its published tasks recovered (Manager.Takeover: checkpoint, then
//     the log replayed), a bank dropped has its manager stopped.
//   - Reliable servers: for every bank it holds as primary and while that
//     bank has a backup, it runs a servers.Driver with every registered
//     Server (unit BANK/NAME) and the application unit BANK/app.
//   - The control socket DIR/NAME.sock (mode 0600, token checked, package
//     control holds its messages): status, ps, run, ports, ru, call,
//     ckpt, fault, metrics, publish and the routes registered with Routes.
//   - Metrics (Prometheus; over HTTP on a loopback address when asked) and
//     the checkpoint log (the last 512 checkpoints of tasks and units).
//
// Invariants:
//   - The package knows no program or server: everything a node carries
//     comes from its Registrations, and both nodes of a pair must carry
//     the same (Go cannot ship code to the partner).
//   - Run and everything it calls read no environment variable, print
//     nothing and never exit: logs go through the zap logger of Config
//     (the node's own lines carry the field node), errors are returned.
//     Main is the one exception, by design: it is a binary's entry point
//     (a binary's main calls it and nothing else), so it parses the
//     flags, reads FTM_DIR and FTM_FAILPOINTS, logs JSON to stderr and
//     exits. It lives in this package so a user's binary needs one import.
//   - With failpoints armed (Config.Failpoints), the node runs no reliable
//     servers: their STM commits would move the failpoints' hit counts.
//   - Servers stop before the banks close, and the banks close after the
//     pair has stopped: a unit never saves into a closed bank.
//   - The link listener closes last, after the banks: a node never stops
//     accepting on its link port while it may still commit, so a partner
//     whose port refuses connections is proven gone and taken over at once
//     (gone.go; package cluster, "The fast path").
package node
