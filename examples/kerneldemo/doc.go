// Command kerneldemo is the first half of `make demo`: two kernel nodes as two
// separate OS processes on 127.0.0.1, joined by an authenticated TCP link
// (package kernel/link) that carries port messages through the kernel's
// netmsg proxy (the Mach netmsgserver's role, ftm-lessons.txt §2.3).
//
// Node A is the process you start. It listens on a free loopback port and
// re-executes itself as node B (environment FTM_DEMO_ROLE=b; the link's
// shared secret goes to B over its stdin, never on the command line). Then:
//
//  1. A looks up B's registered port "echo" and exchanges request/reply
//     messages with it;
//  2. A moves a send right to its own port "inbox" to node B inside a
//     message; B uses that right to send a message back to A;
//  3. A asks for a dead-name notification on its send right to "echo",
//     kills node B with SIGKILL, and reports the dead-name notification the
//     kernel delivers once the lost link's timeout has passed; A exits 0.
//
// Only this main package prints (plain lines on stdout, one per step, each
// prefixed with the node that speaks). Set FTM_DEMO_LOG=1 to also see the
// kernel's and the link's structured logs on stderr.
//
// Invariants: B never outlives A's link (it exits when the link ends); A
// kills B on every exit path.
package main
