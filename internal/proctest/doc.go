// Package proctest is the test kit for tests that need real OS processes:
// a test binary re-executes itself into a named role, the parent reads the
// child's output line by line, kills it with SIGKILL and waits for it with a
// deadline. Crash tests use it to kill a primary mid-stream; benchmarks use
// it to put a backup bank in another process.
//
// A package that starts children declares its roles once and turns its
// TestHelperProcess into the dispatch:
//
//	var roles = proctest.Roles{"backup": backupRole, "primary": primaryRole}
//
//	func TestHelperProcess(t *testing.T) { os.Exit(proctest.Dispatch(t, os.Stderr, roles)) }
//
// and a test starts one with
//
//	p := proctest.Start(t, proctest.Spec{Role: "primary", Args: []string{addr}, Timeout: time.Minute})
//	line := p.Line()
//	p.Kill()
//
// Invariants:
//   - A child is a real OS process running this test binary, and Kill sends
//     it SIGKILL: nothing in the child runs after it, as after a crash.
//   - Every child a test starts is killed and reaped by t.Cleanup at the
//     latest; one past its Spec.Timeout is killed then.
//   - The child's stdout is read line by line, in order, with no line lost
//     while the parent is not reading (the pipe holds the writer back);
//     its stderr is kept and logged with the test when the child is reaped.
//   - The kit does not print or exit: Dispatch returns the exit code and
//     writes a role's error to the writer it is given; the test file calls
//     os.Exit.
//
// The one environment variable the kit reads is EnvRole, the re-exec
// marker: test-only plumbing that tells a re-executed test binary which
// role to play. A child inherits its parent's environment unread, plus
// EnvRole and any Spec.Env; role arguments travel on the command line
// after "--".
package proctest
