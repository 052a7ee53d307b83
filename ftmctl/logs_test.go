package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/internal/proctest"
	"github.com/stretchr/testify/require"
)

func TestLogsPrintsTheNodesLog(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "alpha.log")
	require.NoError(t, os.WriteFile(logf, []byte(`{"msg":"node started"}`+"\n"), 0o600))
	require.NoError(t, savePair(dir, &pairState{Nodes: []nodeState{{Name: "alpha", Log: logf}}}))
	out, _, err := run(t, "logs", "alpha", "--dir", dir)
	require.NoError(t, err)
	require.Equal(t, `{"msg":"node started"}`+"\n", out)
	_, _, err = run(t, "logs", "omega", "--dir", dir)
	require.ErrorContains(t, err, `unknown node "omega"`)
}

func TestCopyLogFollowsAppends(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.log")
	require.NoError(t, os.WriteFile(p, []byte("one\n"), 0o600))
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	var out proctest.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- copyLog(ctx, &out, f, true) }()
	app, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = app.WriteString("two\n")
	require.NoError(t, err)
	app.Close()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "two") }, 5*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, "one\ntwo\n", out.String())
}
