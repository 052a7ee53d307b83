package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/task"
)

// storyLine is one line of a takeover's story in a node's log.
type storyLine struct {
	Node     string `json:"node"`
	Msg      string `json:"msg"`
	Bank     string `json:"bank"`
	Task     uint64 `json:"task"`
	Takeover string `json:"takeover_id"`
}

// A takeover is followed in the log by one id: after n1's SIGKILL, the
// survivor n2 logs the same takeover id on the death's detection, the
// takeover of bank n1, the restart of n1's task and, once n1 is back as
// its backup, the bank's reliable servers running again; `logs --takeover
// ID` prints those lines and only those. The id is also in status. Then
// the task verbs, in their `task` spelling, stop and remove that task.
func TestTakeoverFollowedByOneIDInTheLog(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin, dir, _ := startPair(t)
	out, err := ftmctl(t, bin, "run", "primes", "16000000", "--dir", dir)
	require.NoError(t, err, out)
	eventually(t, "the task checkpointed", func() bool {
		recs := taskLs(t, bin, dir)
		return len(recs) == 1 && recs[0].Stats.Checkpoints >= 1
	})
	out, err = ftmctl(t, bin, "crash", "n1", "--dir", dir)
	require.NoError(t, err, out)
	var id string
	eventually(t, "n2 took bank n1 over", func() bool {
		rows := statusRows(t, bin, dir)
		if takeovers(rows, "n2") != 1 {
			return false
		}
		id = rows[1].Status.STM.LastTakeover.ID
		return true
	})
	require.Regexp(t, `^[0-9a-f]{8}$`, id, "status names the takeover")
	out, err = ftmctl(t, bin, "pair", "up", "--dir", dir)
	require.NoError(t, err, out)

	var story []storyLine
	eventually(t, "n2's servers of bank n1 run again, under the takeover's id", func() bool {
		story = takeoverStory(t, bin, dir, id)
		return len(story) > 0 && story[len(story)-1].Msg == "reliable servers running"
	})
	var msgs []string
	for _, l := range story {
		require.Equal(t, id, l.Takeover)
		require.Equal(t, "n2", l.Node, "the survivor tells the story")
		msgs = append(msgs, l.Msg)
	}
	if len(msgs) > 1 { // with a witness the survivor commits alone; without one, commits wait for a backup
		msgs[1] = strings.TrimSuffix(msgs[1], "; commits wait for a new backup")
	}
	require.Equal(t, []string{"partner lost", "took over the partner's bank",
		"restarting stable task from its last checkpoint", "reliable servers running"}, msgs, "detection, takeover, task resumed, servers answering")
	require.Equal(t, "n1", story[1].Bank)
	require.Equal(t, uint64(1), story[2].Task)
	require.Equal(t, "n1", story[3].Bank)
	all, err := ftmctl(t, bin, "logs", "--dir", dir)
	require.NoError(t, err)
	require.Greater(t, strings.Count(all, "\n"), 2*len(story), "--takeover keeps only the story's lines")

	checkTaskVerbs(t, bin, dir)
}

// taskLs is `ftmctl task ls -o json`.
func taskLs(t *testing.T, bin, dir string) []task.Record {
	t.Helper()
	out, err := ftmctl(t, bin, "task", "ls", "--dir", dir, "-o", "json")
	require.NoError(t, err, out)
	var recs []task.Record
	require.NoError(t, json.Unmarshal([]byte(out), &recs), out)
	return recs
}

// takeoverStory is `ftmctl logs --takeover id`, parsed.
func takeoverStory(t *testing.T, bin, dir, id string) []storyLine {
	t.Helper()
	out, err := ftmctl(t, bin, "logs", "--dir", dir, "--takeover", id)
	require.NoError(t, err, out)
	var story []storyLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var s storyLine
		require.NoError(t, json.Unmarshal([]byte(l), &s), l)
		story = append(story, s)
	}
	return story
}

// checkTaskVerbs: task ls, task stop and task rm act as ps, stop and rm.
func checkTaskVerbs(t *testing.T, bin, dir string) {
	names, err := ftmctl(t, bin, "task", "ls", "--dir", dir, "-o", "name")
	require.NoError(t, err, names)
	require.Equal(t, "n1/1\n", names)
	out, err := ftmctl(t, bin, "task", "stop", "n1/1", "--dir", dir)
	require.NoError(t, err, out)
	require.Regexp(t, regexp.MustCompile(`^task n1/1 \(primes, failed\) stopped on node n2\n$`), out)
	out, err = ftmctl(t, bin, "task", "rm", "n1/1", "--dir", dir)
	require.NoError(t, err, out)
	require.Contains(t, out, "removed from node n2")
	ps, err := ftmctl(t, bin, "ps", "--dir", dir, "-o", "name")
	require.NoError(t, err, ps)
	require.Empty(t, ps, "both spellings see the same tasks")
}
