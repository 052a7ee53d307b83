// Package tasktest gives tests and benchmarks of stable tasks what a node
// gives them in production: a bank mirrored to an in-process backup and a
// servers.Driver over it, offered as task.Units, so a task runs as a
// recovery unit (its segments through the pager) without a pair of
// processes.
//
// Invariant: the driver and its kernel node live until the test's cleanup;
// nothing here reads the environment or prints.
package tasktest
