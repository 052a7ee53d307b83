package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

// Every command's --help shows examples, and every -o lists its formats
// for shell completion.
func TestEveryCommandHasExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" || c.Hidden {
			return
		}
		require.NotEmpty(t, strings.TrimSpace(c.Example), "%s has no example in its help", c.CommandPath())
		if c.Flags().Lookup("output") != nil {
			comps, _ := c.GetFlagCompletionFunc("output")
			require.NotNil(t, comps, "%s: -o completes its formats", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(&strings.Builder{}, &strings.Builder{}))
}

// -o completes to the command's own formats.
func TestOutputFlagCompletes(t *testing.T) {
	out, _, err := run(t, "__complete", "status", "-o", "")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(out, "table\nwide\njson\nyaml\nname\n:4\n"), out)
	out, _, err = run(t, "__complete", "kv", "get", "a", "-o", "")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(out, "table\njson\nyaml\n:4\n"), out)
	out, _, err = run(t, "__complete", "wait", "")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(out, "protected\nready\ntask\nnode\n:4\n"), out)
}

// A command given the wrong number of arguments says what it takes (its
// usage line), not only cobra's count; a bad -o is said before anything
// else (here: before there is no pair).
func TestBadArgumentsShowTheUsage(t *testing.T) {
	_, _, err := run(t, "ckpt", "now")
	require.ErrorContains(t, err, "accepts 1 arg(s), received 0 (usage: ftmctl ckpt now TASK|RU [flags])")
	_, _, err = run(t, "cluster", "up")
	require.ErrorContains(t, err, "(usage: ftmctl cluster up N [flags])")
	_, _, err = run(t, "status", "-o", "xml", "--dir", t.TempDir())
	require.ErrorContains(t, err, `unknown output format "xml"`)
}
