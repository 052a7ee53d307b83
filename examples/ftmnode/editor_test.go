package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseEditArgs(t *testing.T) {
	a, err := parseEditArgs([]string{"n1", "ed-1", "80", "24", "/tmp/f"})
	require.NoError(t, err)
	require.Equal(t, editArgs{bank: "n1", session: "ed-1", width: 80, height: 24, file: "/tmp/f"}, a)
	_, err = parseEditArgs([]string{"n1", "ed-1", "wide", "24", "/tmp/f"})
	require.ErrorContains(t, err, "bad screen size")
	_, err = parseEditArgs([]string{"/tmp/f"})
	require.ErrorContains(t, err, "want BANK SESSION WIDTH HEIGHT FILE")
}
