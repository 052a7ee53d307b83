package kv_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/examples/kvstore/kv"
	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/stm"
)

// newClient runs a kv server on one node and returns a client of it.
func newClient(t *testing.T) *servers.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	node := kernel.NewNode(kernel.Config{Name: "n1"})
	t.Cleanup(node.Shutdown)
	bank := stm.NewBank(stm.Config{})
	require.NoError(t, bank.Attach(ctx, stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{}))))
	task, err := node.NewTask("host")
	require.NoError(t, err)
	d, err := servers.NewDriver(servers.DriverConfig{Host: "host", Task: task, Bank: bank, Names: names.NewKernel(task, nil)})
	require.NoError(t, err)
	d.Start()
	t.Cleanup(d.Close)
	srv, err := kv.New(servers.Config{Name: kv.Name, Driver: d})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	app, err := servers.NewClient(servers.ClientConfig{Name: "app", Driver: d})
	require.NoError(t, err)
	t.Cleanup(func() { app.Close() })
	return app
}

// An Add past either end of the int64 range is refused with the declared
// ErrOverflow and leaves the value as it was, instead of wrapping around.
func TestAddRefusesOverflow(t *testing.T) {
	ctx := context.Background()
	app := newClient(t)
	for _, tc := range []struct {
		name     string
		start    int64
		by       int64
		overflow bool
	}{
		{"max+1", math.MaxInt64, 1, true},
		{"min-1", math.MinInt64, -1, true},
		{"max+0", math.MaxInt64, 0, false},
		{"max-1", math.MaxInt64, -1, false},
		{"min+max", math.MinInt64, math.MaxInt64, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kv.Put.Call(ctx, app, kv.PutReq{Key: tc.name, Value: tc.start})
			require.NoError(t, err)
			got, err := kv.Add.Call(ctx, app, kv.AddReq{Key: tc.name, By: tc.by})
			if !tc.overflow {
				require.NoError(t, err)
				require.Equal(t, tc.start+tc.by, got)
				return
			}
			require.True(t, errors.Is(err, kv.ErrOverflow), "got %v", err)
			v, err := kv.Get.Call(ctx, app, tc.name)
			require.NoError(t, err)
			require.Equal(t, tc.start, v, "a refused Add changed the value")
		})
	}
}
