package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/task"
)

// keys sends k to m, one after the other, and returns the model.
func keys(t *testing.T, m watchModel, ks ...string) watchModel {
	t.Helper()
	for _, k := range ks {
		next, _ := m.key(k)
		m = next.(watchModel)
	}
	return m
}

// Tab moves the selection over the nodes then the tasks, wrapping;
// shift+tab and up move it back; enter opens the pane and closes it; esc
// closes an open pane instead of quitting.
func TestWatchKeysSelectAndOpenDetail(t *testing.T) {
	f := takeoverFrame(time.Now())
	m := watchModel{frame: &f}
	require.Equal(t, watchItem{"node", "alpha-node"}, keys(t, m, "tab").sel)
	require.Equal(t, watchItem{"node", "beta-node"}, keys(t, m, "tab", "down").sel)
	require.Equal(t, watchItem{"task", "beta-node/1"}, keys(t, m, "tab", "tab", "j").sel)
	require.Equal(t, watchItem{"node", "alpha-node"}, keys(t, m, "tab", "tab", "tab", "tab").sel, "wraps")
	require.Equal(t, watchItem{"task", "beta-node/1"}, keys(t, m, "tab", "shift+tab").sel, "back, wrapping")
	require.Equal(t, watchItem{"node", "alpha-node"}, keys(t, m, "tab", "tab", "up").sel)

	m = keys(t, m, "enter")
	require.True(t, m.detail, "enter with nothing selected selects the first and opens its pane")
	require.Equal(t, watchItem{"node", "alpha-node"}, m.sel)
	require.False(t, keys(t, m, "enter").detail, "enter closes it")
	_, cmd := m.key("esc")
	require.Nil(t, cmd, "esc closes the pane, it does not quit")
	require.False(t, keys(t, m, "esc").detail)
	_, cmd = keys(t, m, "esc").key("esc")
	require.NotNil(t, cmd, "esc with no pane open quits")
}

// The node pane shows its banks, link and last takeover with its id; the
// task pane its progress, checkpoints, restarts and recovery units; both
// fit 80x24 with the help line, which names the selection.
func TestWatchDetailPanes(t *testing.T) {
	f := takeoverFrame(time.Now())
	f.Nodes[0].Status.STM.LastTakeover.ID = "6c1380b2"
	f.RU = []ruNode{{Node: "alpha-node", Hosts: []ruHost{{Bank: "beta-node", DriverStatus: servers.DriverStatus{
		Units: []servers.UnitStatus{{Unit: task.UnitName("beta-node", 1), RU: "7", Phase: "running"}, {Unit: "beta-node/kv", RU: "3", Phase: "running"}}}}}}}
	fits := func(view string) {
		lines := strings.Split(strings.TrimRight(view, "\n"), "\n")
		require.LessOrEqual(t, len(lines), 24, view)
		for _, l := range lines {
			require.LessOrEqual(t, len([]rune(l)), 80, "%q", l)
		}
	}
	node := renderView(f, viewOpts{every: time.Second, width: 80, height: 24, keys: true, detail: true, sel: watchItem{"node", "alpha-node"}})
	fits(node)
	require.Contains(t, node, "\nNODE alpha-node\n")
	require.Contains(t, node, "link to beta-node down since")
	require.Contains(t, node, "bank alpha-node own: 260 objs, seq 19, epoch 0, mirror none, commits refused")
	require.Contains(t, node, "bank beta-node taken-over: 133 objs, seq 15, epoch 0, mirror none")
	require.Contains(t, node, "takeover 6c1380b2: bank beta-node at")
	require.True(t, strings.HasSuffix(node, "tab/up/down select  enter details  esc close  q quit  [node alpha-node]\n"), node)

	tk := renderView(f, viewOpts{every: time.Second, width: 80, height: 24, keys: true, detail: true, sel: watchItem{"task", "beta-node/1"}})
	fits(tk)
	require.Contains(t, tk, "\nTASK beta-node/1\n")
	require.Contains(t, tk, "primes on alpha-node, running since")
	require.Contains(t, tk, "restarts 1")
	require.Contains(t, tk, "progress [==========----------]  50% 600/1200")
	require.Contains(t, tk, "checkpoints 4 this run")
	require.Contains(t, tk, "last checkpoint")
	require.Contains(t, tk, "recovery units: beta-node/task1 (RU 7, running)")
	require.NotContains(t, tk, "beta-node/kv (RU", "only the task's units")

	coloured := renderView(f, viewOpts{every: time.Second, width: 80, height: 24, colour: true, sel: watchItem{"task", "beta-node/1"}})
	require.Regexp(t, `\x1b\[7malpha-node\s+beta-node\s+1\s+primes`, coloured, "the selected row is in reverse video")
	require.NotContains(t, renderFrame(f, time.Second), "[node", "--once has no help line")
}
