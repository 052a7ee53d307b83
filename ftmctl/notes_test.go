package main

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/pair"
)

// status's note lines go to stderr; the table alone stays on stdout.
func TestStatusNotesGoToStderr(t *testing.T) {
	s := &nodeStatus{STM: &pair.StableStatus{Banks: []pair.BankStatus{{Name: "b", Role: pair.RoleOwn, CommitsRefused: true}}}}
	s.Name, s.Partner = "b", "a"
	rows := []statusRow{{Node: "a", Error: "not running"}, {Node: "b", Running: true, Status: s}}
	var out, errOut strings.Builder
	cmd := &cobra.Command{}
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	require.NoError(t, notesToStderr(cmd, func(w io.Writer) error { return printStatus(w, "table", rows) }))
	require.Contains(t, out.String(), "NODE")
	require.NotContains(t, out.String(), "note:")
	require.Equal(t, "note: b holds bank b with no backup attached: its commits are refused (stm.ErrNoBackup) until the partner links\n", errOut.String())
}

func TestNoteSplitterKeepsPartialLines(t *testing.T) {
	var out, notes strings.Builder
	s := &noteSplitter{out: &out, notes: &notes}
	for _, p := range []string{"a\nno", "te: x\nb", "\nnote: y"} {
		_, err := s.Write([]byte(p))
		require.NoError(t, err)
	}
	require.NoError(t, s.flush())
	require.Equal(t, "a\nb\n", out.String())
	require.Equal(t, "note: x\nnote: y", notes.String())
}
