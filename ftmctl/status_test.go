package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/ftm-in-go/ftm/pair"
)

// statusSample is a pair right after a takeover: the widest cells status
// prints (a bank taken over, a long last takeover) and a dead node.
func statusSample() []statusRow {
	s := &nodeStatus{Status: pair.Status{Name: "alpha-node", Partner: "beta-node", Epoch: 1, LostCount: 1, StartedAt: time.Now().Add(-time.Hour)},
		PID: 4194304, STM: &pair.StableStatus{Takeovers: 1,
			LastTakeover: &pair.TakeoverTiming{Bank: "beta-node", Total: 1026211 * time.Microsecond, Deferred: 2},
			Banks: []pair.BankStatus{{Name: "alpha-node", Role: pair.RoleOwn, Objects: 260, Seq: 19, Mirror: pair.MirrorNone, CommitsRefused: true},
				{Name: "beta-node", Role: pair.RoleTakenOver, Objects: 133, Seq: 15, Mirror: pair.MirrorNone, InDoubt: 2, CommitsRefused: true}}}}
	return []statusRow{{Node: "alpha-node", PID: 4194304, Running: true, Status: s}, {Node: "beta-node", PID: 4194305, Error: "not running"}}
}

// The default status table fits 80 columns even after a takeover; -o wide
// has every column; -o name one node per line; -o yaml the JSON fields.
func TestStatusOutputs(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, printStatus(&out, "table", statusSample()))
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		if strings.HasPrefix(line, "note: ") {
			continue // a note, on stderr
		}
		require.LessOrEqual(t, len(line), 80, "%q", line)
	}
	require.Regexp(t, `alpha-node\s+running\s+down\s+-\s+no \(none\)\s+taken over\s+1\n`, out.String())
	require.Regexp(t, `beta-node\s+not running\s+-`, out.String())

	out.Reset()
	require.NoError(t, printStatus(&out, "wide", statusSample()))
	require.Contains(t, out.String(), "LAST TAKEOVER")
	require.Contains(t, out.String(), "taken over: 133 objs, seq 15, backup none, 2 groups in doubt")
	require.Regexp(t, `alpha-node\s+4194304\s+running\s+beta-node\s+down\s+1\s+1\s+1h0m0s`, out.String())

	out.Reset()
	require.NoError(t, printStatus(&out, "name", statusSample()))
	require.Equal(t, "alpha-node\nbeta-node\n", out.String())

	out.Reset()
	require.NoError(t, printStatus(&out, "yaml", statusSample()))
	var rows []map[string]any
	require.NoError(t, yaml.Unmarshal(out.Bytes(), &rows))
	require.Len(t, rows, 2)
	require.Equal(t, "alpha-node", rows[0]["node"])
	st := rows[0]["status"].(map[string]any)["stm"].(map[string]any)["last_takeover"].(map[string]any)
	require.Equal(t, 1026211000, st["total_ns"], "durations are integer nanoseconds, as in JSON")

	require.ErrorContains(t, printStatus(&out, "xml", statusSample()), `unknown output format "xml"`)
}
