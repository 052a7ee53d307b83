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

func TestFollowPrintsAppends(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.log")
	require.NoError(t, os.WriteFile(p, []byte("one\n"), 0o600))
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	var out proctest.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mergeLogs(ctx, &out, []*os.File{f}, logOpts{follow: true}) }()
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

// Without NODE, both logs merged in time order; --since keeps the lines
// from a time on; a line being written (no newline yet) waits for its end;
// -f merges what both nodes append.
func TestLogsMergeBothNodesByTime(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "alpha.log"), filepath.Join(dir, "beta.log")
	require.NoError(t, os.WriteFile(a, []byte(`{"ts":10.5,"node":"alpha","msg":"a1"}`+"\n"+`{"ts":30,"node":"alpha","msg":"a2"}`+"\n"+`{"ts":40,"node":"alpha","msg":"part`), 0o600))
	require.NoError(t, os.WriteFile(b, []byte(`{"ts":20,"node":"beta","msg":"b1"}`+"\n"+"not json\n"+`{"ts":35,"node":"beta","msg":"b2"}`+"\n"), 0o600))
	require.NoError(t, savePair(dir, &pairState{Nodes: []nodeState{{Name: "alpha", Log: a}, {Name: "beta", Log: b}}}))
	out, _, err := run(t, "logs", "--dir", dir)
	require.NoError(t, err)
	require.Equal(t, `{"ts":10.5,"node":"alpha","msg":"a1"}`+"\n"+`{"ts":20,"node":"beta","msg":"b1"}`+"\n"+"not json\n"+
		`{"ts":30,"node":"alpha","msg":"a2"}`+"\n"+`{"ts":35,"node":"beta","msg":"b2"}`+"\n", out)
	out, _, err = run(t, "logs", "--dir", dir, "--since", time.Unix(25, 0).UTC().Format(time.RFC3339))
	require.NoError(t, err)
	require.Equal(t, `{"ts":30,"node":"alpha","msg":"a2"}`+"\n"+`{"ts":35,"node":"beta","msg":"b2"}`+"\n", out)
	out, _, err = run(t, "logs", "beta", "--dir", dir, "--since", "1h")
	require.NoError(t, err)
	require.Empty(t, out, "nothing in the last hour: the lines are from 1970")
	_, _, err = run(t, "logs", "--dir", dir, "--since", "yesterday")
	require.ErrorContains(t, err, `--since "yesterday": want a duration (5m) or an RFC 3339 time`)

	fa, err := os.Open(a)
	require.NoError(t, err)
	defer fa.Close()
	fb, err := os.Open(b)
	require.NoError(t, err)
	defer fb.Close()
	var follow proctest.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- mergeLogs(ctx, &follow, []*os.File{fa, fb}, logOpts{from: time.Unix(36, 0), follow: true})
	}()
	appendTo := func(p, s string) {
		f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteString(s)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	appendTo(a, `"}`+"\n")
	appendTo(b, `{"ts":41,"node":"beta","msg":"b3"}`+"\n")
	want := `{"ts":40,"node":"alpha","msg":"part"}` + "\n" + `{"ts":41,"node":"beta","msg":"b3"}` + "\n"
	require.Eventually(t, func() bool { return follow.String() == want }, 5*time.Second, 10*time.Millisecond, "got %q", follow.String())
	cancel()
	require.NoError(t, <-done)
}

// --takeover keeps the lines whose takeover_id is the one asked for, from
// both nodes, in time order.
func TestLogsTakeoverKeepsOneStory(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "alpha.log"), filepath.Join(dir, "beta.log")
	require.NoError(t, os.WriteFile(a, []byte(`{"ts":1,"node":"alpha","msg":"partner lost","takeover_id":"aaaa0001"}`+"\n"+
		`{"ts":2,"node":"alpha","msg":"other"}`+"\n"+`{"ts":4,"node":"alpha","msg":"reliable servers running","takeover_id":"aaaa0001"}`+"\n"), 0o600))
	require.NoError(t, os.WriteFile(b, []byte(`{"ts":3,"node":"beta","msg":"partner lost","takeover_id":"bbbb0002"}`+"\n"), 0o600))
	require.NoError(t, savePair(dir, &pairState{Nodes: []nodeState{{Name: "alpha", Log: a}, {Name: "beta", Log: b}}}))
	out, _, err := run(t, "logs", "--dir", dir, "--takeover", "aaaa0001")
	require.NoError(t, err)
	require.Equal(t, `{"ts":1,"node":"alpha","msg":"partner lost","takeover_id":"aaaa0001"}`+"\n"+
		`{"ts":4,"node":"alpha","msg":"reliable servers running","takeover_id":"aaaa0001"}`+"\n", out)
	out, _, err = run(t, "logs", "--dir", dir, "--takeover", "cccc0003")
	require.NoError(t, err)
	require.Empty(t, out)
	_, _, err = run(t, "logs", "--dir", dir, "--takeover", "n1")
	require.ErrorContains(t, err, `--takeover wants a takeover id, 8 hex digits (status -o json: .status.stm.last_takeover.id), got "n1"`)
}
