package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/node/control"
)

// publishedRows is `ftmctl publish ls -o json`.
func publishedRows(t *testing.T, bin, dir string) []control.PublishedTask {
	t.Helper()
	out, err := ftmctl(t, bin, "publish", "ls", "--dir", dir, "-o", "json")
	require.NoError(t, err, out)
	var rows []control.PublishedTask
	require.NoError(t, json.Unmarshal([]byte(out), &rows), out)
	return rows
}

func publishedRow(rows []control.PublishedTask, name string) (control.PublishedTask, bool) {
	for _, r := range rows {
		if r.Name == name && r.Error == "" {
			return r, true
		}
	}
	return control.PublishedTask{}, false
}

// accClient feeds the usernode's published adder and checks each reply
// against the run without a crash: the n-th number sent gets "n SUM".
type accClient struct {
	t        *testing.T
	bin, dir string
	task     string
	count    int64
	sum      int64
}

func (c *accClient) send(n int64) {
	c.t.Helper()
	out, err := ftmctl(c.t, c.bin, "publish", "send", c.task, strconv.FormatInt(n, 10), "--dir", c.dir)
	require.NoError(c.t, err, out)
	c.count++
	c.sum += n
	require.Equal(c.t, fmt.Sprintf("%d %d", c.count, c.sum), strings.TrimSpace(out),
		"reply to message %d of %s: a message lost or handled twice shows here", c.count, c.task)
}

// A published program of a user's node binary (node.Published) runs on
// each bank; its node is killed with SIGKILL after enough messages for a
// checkpoint and a log beyond it; the survivor recovers it from the bank
// it took over (checkpoint, then the log replayed, its replies dropped as
// already sent), and every reply the client gets, before and after, is
// that of a run without the crash. So are the answers of a pipeline of
// three published tasks of the same bank (each stage's messages to the
// next, recorded and numbered). The survivor's own published task is not
// disturbed.
func TestPublishedTaskSurvivesSIGKILLOfItsNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin := buildFtmctl(t)
	user := filepath.Join(t.TempDir(), "usernode")
	out, err := exec.Command("go", "build", "-o", user, "./testdata/usernode").CombinedOutput()
	require.NoError(t, err, string(out))
	dir := filepath.Join(t.TempDir(), "pair")
	out2, err := ftmctl(t, bin, "pair", "up", "--exec", user, "--allow-faults", "--nodes", "n1,n2", "--dir", dir)
	require.NoError(t, err, out2)
	t.Cleanup(func() { _, _ = ftmctl(t, bin, "pair", "down", "--dir", dir, "--grace", "1s") })
	t.Cleanup(func() { dumpLogsOnFailure(t, dir, "n1", "n2") })
	eventually(t, "n1/acc runs on n1 and n2/acc on n2", func() bool {
		rows := publishedRows(t, bin, dir)
		a, ok1 := publishedRow(rows, "n1/acc")
		b, ok2 := publishedRow(rows, "n2/acc")
		return ok1 && ok2 && a.Node == "n1" && b.Node == "n2"
	})

	moved := &accClient{t: t, bin: bin, dir: dir, task: "n1/acc"}
	stays := &accClient{t: t, bin: bin, dir: dir, task: "n2/acc"}
	// pub1 -> pub2 -> pub3: the last stage's answers count what reached it
	pipe := &accClient{t: t, bin: bin, dir: dir, task: "n1/pub1"}
	for i := int64(1); i <= 100; i++ {
		moved.send(i)
		if i%10 == 0 {
			pipe.send(i)
		}
	}
	stays.send(7)
	before, _ := publishedRow(publishedRows(t, bin, dir), "n1/acc")
	require.GreaterOrEqual(t, before.Checkpoints, 1, "the log outgrew the checkpoint: %+v", before)
	require.Positive(t, before.LogBytes, "messages logged since that checkpoint: %+v", before)

	out2, err = ftmctl(t, bin, "crash", "n1", "--dir", dir)
	require.NoError(t, err, out2)
	eventually(t, "n2 took n1's bank over", func() bool { return takeovers(statusRows(t, bin, dir), "n2") == 1 })
	eventually(t, "n2 recovered n1/acc", func() bool {
		r, ok := publishedRow(publishedRows(t, bin, dir), "n1/acc")
		return ok && r.Node == "n2"
	})
	after, _ := publishedRow(publishedRows(t, bin, dir), "n1/acc")
	require.Equal(t, before.Handled, after.Handled, "recovered to the last message handled: %+v", after)
	require.Positive(t, after.Replayed, "the log beyond the checkpoint was replayed: %+v", after)
	require.Positive(t, after.Suppressed, "the replayed messages' replies were not sent again: %+v", after)

	// The taken-over bank records messages again once it has a backup:
	// the restarted n1 (the same binary).
	out2, err = ftmctl(t, bin, "pair", "up", "--dir", dir)
	require.NoError(t, err, out2)
	for i := int64(101); i <= 110; i++ {
		moved.send(i)
	}
	pipe.send(110)
	stays.send(8)
	r, _ := publishedRow(publishedRows(t, bin, dir), "n2/acc")
	require.Equal(t, 1, r.Incarnations, "the survivor's own published task never restarted: %+v", r)
}
