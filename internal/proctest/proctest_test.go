package proctest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var roles = Roles{
	"echo": func(args []string) error {
		for _, a := range args {
			fmt.Println(a)
		}
		return nil
	},
	"fail":  func([]string) error { return errors.New("the body failed") },
	"exit3": func([]string) error { return ExitCode(3) },
	"hang":  hang,
	"bound": BoundToParent(hang),
}

func hang([]string) error {
	fmt.Println("up")
	select {}
}

func TestHelperProcess(t *testing.T) { os.Exit(Dispatch(t, os.Stderr, roles)) }

func TestArgumentsReachTheRoleAndLinesComeBackInOrder(t *testing.T) {
	r := Run(t, Spec{Role: "echo", Args: []string{"one", "two words", "-test.v", "--"}, Timeout: time.Minute})
	require.NoError(t, r.Err)
	require.Equal(t, "one\ntwo words\n-test.v\n--\n", r.Stdout, "no line of the testing package's own")
}

func TestRoleErrorsBecomeTheExitStatus(t *testing.T) {
	for role, want := range map[string]int{"fail": 1, "exit3": 3, "nosuchrole": 2} {
		t.Run(role, func(t *testing.T) {
			r := Run(t, Spec{Role: role, Timeout: time.Minute})
			var ee *exec.ExitError
			require.ErrorAs(t, r.Err, &ee)
			require.Equal(t, want, ee.ExitCode())
			if role == "fail" {
				require.Contains(t, r.Stderr, "role fail: the body failed")
			}
		})
	}
}

func requireSIGKILL(t *testing.T, err error) {
	t.Helper()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, syscall.SIGKILL, ee.Sys().(syscall.WaitStatus).Signal())
}

func TestKillSendsSIGKILL(t *testing.T) {
	p := Start(t, Spec{Role: "hang", Timeout: time.Minute})
	require.Equal(t, "up", p.Line())
	require.NoError(t, p.Kill())
	_, more := p.Next()
	require.False(t, more, "stdout ends with the child")
	requireSIGKILL(t, p.Wait())
	require.Error(t, p.Kill(), "a reaped child cannot be killed")
}

func TestDeadlineKillsTheChild(t *testing.T) {
	start := time.Now()
	p := Start(t, Spec{Role: "hang", Timeout: 500 * time.Millisecond})
	err := p.Wait()
	require.ErrorIs(t, err, ErrDeadline)
	requireSIGKILL(t, err)
	require.Less(t, time.Since(start), 30*time.Second)
}

func TestBoundChildEndsWithItsParentsStdin(t *testing.T) {
	p := Start(t, Spec{Role: "bound", Timeout: time.Minute})
	require.Equal(t, "up", p.Line())
	require.NoError(t, p.stdin.Close()) // what the parent's death does
	require.NoError(t, p.Wait())
}

func TestCleanupReapsARunningChild(t *testing.T) {
	var p *Process
	t.Run("child", func(t *testing.T) {
		p = Start(t, Spec{Role: "hang"})
		require.Equal(t, "up", p.Line())
	})
	requireSIGKILL(t, p.Wait())
}

func TestLinesGoOnAfterABreak(t *testing.T) {
	p := Start(t, Spec{Role: "echo", Args: []string{"1", "2", "3"}, Timeout: time.Minute})
	var first []string
	for line := range p.Lines() {
		first = append(first, line)
		if len(first) == 2 {
			break
		}
	}
	require.Equal(t, []string{"1", "2"}, first)
	require.Equal(t, "3", p.Line())
	_, more := p.Next()
	require.False(t, more)
	require.NoError(t, p.Wait())
}
