package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/internal/buildinfo"
)

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCmd(&out, &errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestVersionTable(t *testing.T) {
	out, _, err := run(t, "version")
	require.NoError(t, err)
	require.Contains(t, out, "ftmctl "+buildinfo.Version(version))
	require.Contains(t, out, runtime.Version())
}

// --version prints what version prints, and exits 0.
func TestVersionFlag(t *testing.T) {
	flag, _, err := run(t, "--version")
	require.NoError(t, err)
	table, _, err := run(t, "version")
	require.NoError(t, err)
	require.Equal(t, table, flag)
}

func TestVersionJSON(t *testing.T) {
	out, _, err := run(t, "version", "-o", "json")
	require.NoError(t, err)
	var v versionInfo
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	require.Equal(t, buildinfo.Version(version), v.Version)
	require.Equal(t, runtime.GOOS, v.OS)
}

func TestVersionRejectsUnknownFormat(t *testing.T) {
	_, _, err := run(t, "version", "-o", "xml")
	require.ErrorContains(t, err, "unknown output format")
}

func TestHelpListsCommands(t *testing.T) {
	out, _, err := run(t, "--help")
	require.NoError(t, err)
	require.Contains(t, out, "version")
	require.Contains(t, out, "Usage:")
}

func TestUnknownCommandFails(t *testing.T) {
	_, _, err := run(t, "frobnicate")
	require.Error(t, err)
}
