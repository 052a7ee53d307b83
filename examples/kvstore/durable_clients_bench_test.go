package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/examples/kvstore/kv"
	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
	"github.com/stretchr/testify/require"
)

// newClientsRig is newDurableRig with clients external clients, each on
// a task of its own.
func newClientsRig(b *testing.B, keys, clients int) (*durableRig, *stm.Bank, []*servers.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	addr, rawAddr := startBackup(b)
	bank, err := stmtest.DialBank(ctx, addr, linkConfig("primary"))
	require.NoError(b, err)
	b.Cleanup(func() { _ = bank.Close() })
	node := kernel.NewNode(kernel.Config{Name: "primary"})
	b.Cleanup(node.Shutdown)
	serveBenchKV(b, ctx, node, bank)
	cs := make([]*servers.Client, clients)
	for i := range cs {
		task, err := node.NewTask(fmt.Sprint("client-", i))
		require.NoError(b, err)
		cs[i], err = servers.NewClient(servers.ClientConfig{Name: fmt.Sprint("bench-", i), Task: task,
			Names: names.NewKernel(task, nil), Timeout: time.Minute, Retries: 1})
		require.NoError(b, err)
		b.Cleanup(cs[i].Close)
	}
	r := &durableRig{client: cs[0], raw: dialRaw(b, rawAddr)}
	r.preload(b, keys)
	return r, bank, cs
}

// benchDurableClients: clients external clients put concurrently, each
// waiting for its reply (answered after output commit) before its next
// put; b.N updates in all. updates/s is the throughput; the server commits
// a burst of queued updates together (group commit).
func benchDurableClients(b *testing.B, keys, clients int) {
	r, bank, cs := newClientsRig(b, keys, clients)
	ctx := context.Background()
	put := func(c *servers.Client, i int) error {
		_, err := kv.Put.Call(ctx, c, kv.PutReq{Key: fmt.Sprint("k", i%keys), Value: int64(i)})
		return err
	}
	for i, c := range cs { // warm: connections, duplicate tables
		require.NoError(b, put(c, i))
	}
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	b.ReportAllocs()
	c0 := bank.Stats().Committed
	b.ResetTimer()
	start := time.Now()
	for ci, c := range cs {
		n := b.N / clients
		if ci < b.N%clients {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				if err := put(c, ci+i*clients); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	commits := bank.Stats().Committed - c0
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	n, err := kv.Len.Call(ctx, r.client, struct{}{})
	require.NoError(b, err)
	require.Equal(b, keys, n)
	v, err := kv.Get.Call(ctx, r.client, "k0")
	require.NoError(b, err)
	require.Zero(b, v%int64(keys), "k0 holds a value no put wrote")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "updates/s")
	b.ReportMetric(float64(commits)/float64(b.N), "stm-tx/update")
}
