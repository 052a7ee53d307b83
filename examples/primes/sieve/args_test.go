package sieve

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// "primes abc" is refused at once, in one line, before anything is
// recorded: the bank has no backup, so a start that went further would
// fail with stm.ErrNoBackup instead.
func TestPrimesArgsRefusedBeforeStart(t *testing.T) {
	s := task.NewServer(context.Background(), task.ServerConfig{Node: "n",
		Programs: map[string]task.Program{"primes": func(context.Context, *task.Task, []string) (string, error) {
			t.Error("the program ran")
			return "", nil
		}},
		Args: map[string]task.Args{"primes": Args}})
	bank := task.Bank{Name: "n", STM: stm.NewBank(stm.Config{})}
	_, err := s.Start(context.Background(), bank, "primes", []string{"abc"})
	require.ErrorIs(t, err, task.ErrBadArgs)
	require.Equal(t, `task: bad arguments: primes abc: N must be a positive number, got "abc" (usage: primes [N])`, err.Error())
	require.False(t, strings.Contains(err.Error(), "\n"))
	require.Empty(t, s.List())
	_, err = s.Start(context.Background(), bank, "primes", []string{"10", "20"})
	require.ErrorIs(t, err, task.ErrBadArgs)
	_, err = s.Start(context.Background(), bank, "primes", []string{"10"})
	require.ErrorIs(t, err, stm.ErrNoBackup, "good arguments go on to be recorded")
	n, err := ParseN(nil)
	require.NoError(t, err)
	require.Equal(t, DefaultN, n)
}

// Run finds the N-th prime in a task.
func TestRunFindsNthPrime(t *testing.T) {
	var out string
	_, err := task.Run(context.Background(), task.Config{Name: "primes"}, func(ctx context.Context, tk *task.Task) (err error) {
		out, err = Run(ctx, tk, []string{"100"})
		return err
	})
	require.NoError(t, err)
	require.Equal(t, "prime 100 is 541", out)
}

// N must be a positive number no larger than MaxN: every other argument
// is refused in one line before anything runs.
func TestParseNRange(t *testing.T) {
	for _, tc := range []struct {
		arg string
		ok  bool
	}{
		{"1", true},
		{"400000", true},
		{"16777216", true},
		{"16777217", false},
		{"9223372036854775807", false},
		{"99999999999999999999", false},
		{"0", false},
		{"-5", false},
		{"abc", false},
		{"", false},
	} {
		n, err := ParseN([]string{tc.arg})
		if tc.ok {
			require.NoError(t, err, tc.arg)
			require.LessOrEqual(t, n, MaxN)
			continue
		}
		require.Error(t, err, tc.arg)
		require.NotContains(t, err.Error(), "\n")
	}
}
