package kv_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/examples/kvstore/kv"
	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/stm"
)

// legacyStable is how a kv server written before Items existed stored its
// state: msgpack of the framework's stable value, the keys in a plain map.
type legacyStable struct {
	State struct {
		Values map[string]int64
		Writes int64
	}
	Dups map[string]map[uint64]struct{}
}

// runKV runs a kv server on a new node over bank until the returned stop.
func runKV(t *testing.T, bank *stm.Bank) (*servers.Client, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	node := kernel.NewNode(kernel.Config{Name: "n1"})
	task, err := node.NewTask("host")
	require.NoError(t, err)
	d, err := servers.NewDriver(servers.DriverConfig{Host: "host", Task: task, Bank: bank, Names: names.NewKernel(task, nil)})
	require.NoError(t, err)
	d.Start()
	srv, err := kv.New(servers.Config{Name: kv.Name, Driver: d})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	app, err := servers.NewClient(servers.ClientConfig{Name: "app", Driver: d})
	require.NoError(t, err)
	return app, func() { app.Close(); cancel(); <-done; d.Close(); node.Shutdown() }
}

// A bank written by the kv server of before (its keys in Values) is read
// by this one: the keys move into Items at the restart and are written
// there by the next checkpoint, so a later restart has them too.
func TestKeysOfAnOlderVersionMoveIntoItems(t *testing.T) {
	ctx := context.Background()
	bank := stm.NewBank(stm.Config{})
	require.NoError(t, bank.Attach(ctx, stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{}))))
	app, stop := runKV(t, bank) // leaves the unit's record, as the older version did
	_, err := kv.Put.Call(ctx, app, kv.PutReq{Key: "new", Value: 1})
	require.NoError(t, err)
	require.NoError(t, app.Checkpoint(ctx))
	stop()

	var old legacyStable
	old.State.Values, old.State.Writes = map[string]int64{"apples": 3, "pears": 5}, 2
	b, err := stm.Encode(old)
	require.NoError(t, err)
	id, err := stm.Namespace("servers").Resolve(ctx, bank, "data:"+kv.Name)
	require.NoError(t, err)
	require.NoError(t, bank.Update(ctx, func(tx *stm.Tx) error { return tx.Put(id, b) }))

	for run := range 2 {
		app, stop := runKV(t, bank)
		for k, want := range old.State.Values {
			got, err := kv.Get.Call(ctx, app, k)
			require.NoError(t, err, "run %d", run)
			require.Equal(t, want, got, "run %d", run)
		}
		n, err := kv.Len.Call(ctx, app, struct{}{})
		require.NoError(t, err)
		require.Equal(t, 2, n, "run %d: the older version's keys only", run)
		require.NoError(t, app.Checkpoint(ctx))
		stop()
	}
}
