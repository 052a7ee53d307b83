package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/examples/kvstore/kv"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/stretchr/testify/require"
)

// newClientsRig is newDurableRig with clients external clients, each on
// a task of its own (the rig's own client first).
func newClientsRig(b *testing.B, keys, clients int) (*durableRig, []*servers.Client) {
	r := newDurableRig(b, keys)
	cs := []*servers.Client{r.client}
	for len(cs) < clients {
		cs = append(cs, externalClient(b, r.node))
	}
	return r, cs
}

// benchDurableClients: clients external clients put concurrently, each
// waiting for its reply (answered after output commit) before its next
// put; b.N updates in all. updates/s is the throughput; the server commits
// a burst of queued updates together (group commit).
func benchDurableClients(b *testing.B, keys, clients int) {
	r, cs := newClientsRig(b, keys, clients)
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
	c0 := r.bank.Stats().Committed
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
	commits := r.bank.Stats().Committed - c0
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
