package proctest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"testing"
)

// EnvRole is the re-exec marker: the environment variable that names the
// role a re-executed test binary plays. It is the only variable the kit
// reads, and only in Dispatch.
const EnvRole = "FTM_PROCTEST_ROLE"

// Role is the body of a child process. It gets the arguments given in
// Spec.Args, writes what the parent reads to os.Stdout, and returns nil for
// exit status 0; an ExitCode error exits with that code, any other error
// with status 1.
type Role func(args []string) error

// Roles names the bodies a package's test binary can play.
type Roles map[string]Role

// ExitCode is a Role's error that sets the child's exit status without a
// message, for a body that is a program's main (which has already said
// why on its own stderr).
type ExitCode int

func (c ExitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// Dispatch is the whole body of a package's TestHelperProcess. In an
// ordinary test run it skips; in a child started by Start it plays the role
// EnvRole names and returns the exit code for os.Exit, having written a
// failed role's error to errOut.
func Dispatch(t *testing.T, errOut io.Writer, roles Roles) int {
	name, ok := os.LookupEnv(EnvRole)
	if !ok {
		t.Skip("the body of a child process: run by proctest.Start")
	}
	role, ok := roles[name]
	if !ok {
		fmt.Fprintf(errOut, "proctest: no role %q in this test binary\n", name)
		return 2
	}
	err := role(roleArgs(os.Args))
	var code ExitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	default:
		fmt.Fprintf(errOut, "proctest: role %s: %v\n", name, err)
		return 1
	}
}

// roleArgs are the arguments after the first "--" of a child's command
// line (the flags before it are the test binary's).
func roleArgs(argv []string) []string {
	i := slices.Index(argv, "--")
	if i < 0 {
		return nil
	}
	return argv[i+1:]
}

// BoundToParent makes role end with its parent: the child returns nil as
// soon as its stdin closes, which happens when the parent reaps it or dies
// itself, so a long-lived child (a benchmark's backup) never outlives the
// test binary that started it.
func BoundToParent(role Role) Role {
	return func(args []string) error {
		done := make(chan error, 1)
		go func() { done <- role(args) }()
		select {
		case err := <-done:
			return err
		case <-parentGone():
			return nil
		}
	}
}

// parentGone is closed when this process's stdin reaches its end.
var parentGone = sync.OnceValue(func() <-chan struct{} {
	gone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(gone)
	}()
	return gone
})
