package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/node/control"
)

// BenchmarkExternalClient: durable updates (kv put, output commit) of
// n1/kv on a real pair of node processes, from this process through the
// package, with 1 caller (b.N calls, timed) and 8 concurrent callers (as
// many calls). The in-library baseline runs in another pair's node process:
// the same puts through servers.Client made in the node (node.Env.NewClient,
// testdata/benchnode), 1 caller, as many calls.
//
// Metrics: x-1caller is the throughput with 8 callers over 1 (target ≥ 4;
// x-1caller-lib is the same ratio in the library, the machine's ceiling);
// x-library the p50 latency of one caller here over the in-library one
// (target ≤ 1.3); p50-socket-µs the control socket's own round trip (a
// request the node answers at once), the floor of what the package adds.
func BenchmarkExternalClient(b *testing.B) {
	calls := max(b.N, 200)
	lib, lib8 := libraryBaseline(b, calls)
	c := dialPair(b, startPair(b, "--exec", filepath.Join(binaries(b), "..", "benchnode")))
	ctx := testCtx(b, 10*time.Minute)
	_, err := Call(ctx, c, kvPut.At("n1/kv"), putReq{Key: "warm", Value: 1}) // the servers run
	require.NoError(b, err)
	hop := transportFloor(b, c, calls)
	b.ResetTimer()
	one := measure(b, c, 1, b.N)
	b.StopTimer()
	eight := measure(b, c, 8, calls)
	b.ReportMetric(one.perSec, "updates/s-1")
	b.ReportMetric(eight.perSec, "updates/s-8")
	b.ReportMetric(float64(one.p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(lib.P50.Microseconds()), "p50-lib-µs")
	b.ReportMetric(lib.PerSec, "updates/s-lib")
	b.ReportMetric(lib8.PerSec, "updates/s-lib-8")
	b.ReportMetric(float64(hop.Microseconds()), "p50-socket-µs")
	b.ReportMetric(eight.perSec/one.perSec, "x-1caller")
	b.ReportMetric(lib8.PerSec/lib.PerSec, "x-1caller-lib")
	b.ReportMetric(float64(one.p50)/float64(lib.P50), "x-library")
}

// figures are one run's p50 latency and throughput.
type figures struct {
	p50    time.Duration
	perSec float64
}

// measure makes n puts with callers concurrent callers.
func measure(b *testing.B, c *Conn, callers, n int) figures {
	lat := make([][]time.Duration, callers)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for j := range n / callers {
				t0 := time.Now()
				if _, err := Call(ctx, c, kvPut.At("n1/kv"), putReq{Key: fmt.Sprint("k", i), Value: int64(j)}); err != nil {
					b.Error(err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	require.NotEmpty(b, all)
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return figures{p50: all[len(all)/2], perSec: float64(len(all)) / took.Seconds()}
}

// libResult is benchnode's answer to POST /libbench.
type libResult struct {
	P50    time.Duration `json:"p50"`
	PerSec float64       `json:"per_sec"`
}

// libraryBaseline measures calls puts made in a node process of a pair
// of its own, with one caller and with 8, and stops that pair.
func libraryBaseline(b *testing.B, calls int) (one, eight libResult) {
	dir := startPair(b, "--exec", filepath.Join(binaries(b), "..", "benchnode"))
	c := dialPair(b, dir)
	defer func() { ftmctl(b, "pair", "down", "--dir", dir, "--grace", "1s") }()
	ctx := testCtx(b, 5*time.Minute)
	_, err := Call(ctx, c, kvPut.At("n1/kv"), putReq{Key: "warm", Value: 1})
	require.NoError(b, err)
	return libbench(b, c.nodes[0], calls, 1), libbench(b, c.nodes[0], calls, 8)
}

// libbench asks benchnode n for the in-library figures.
func libbench(b *testing.B, n *nodeConn, calls, callers int) libResult {
	url := fmt.Sprintf("http://node/libbench?calls=%d&callers=%d", calls, callers)
	req, err := http.NewRequestWithContext(testCtx(b, 5*time.Minute), http.MethodPost, url, nil)
	require.NoError(b, err)
	req.Header.Set(control.AuthHeader, n.token)
	resp, err := n.http.Do(req)
	require.NoError(b, err)
	defer resp.Body.Close()
	require.Equal(b, http.StatusOK, resp.StatusCode)
	var res libResult
	require.NoError(b, json.NewDecoder(resp.Body).Decode(&res))
	return res
}

// transportFloor is the p50 of n requests to the control socket that the
// node answers at once (benchnode's POST /noop): what a call through the
// package costs on top of the in-library call, before any work.
func transportFloor(b *testing.B, c *Conn, n int) time.Duration {
	node := c.nodes[0]
	lat := make([]time.Duration, 0, n)
	for range n {
		req, err := http.NewRequest(http.MethodPost, "http://node/noop", nil)
		require.NoError(b, err)
		req.Header.Set(control.AuthHeader, node.token)
		t0 := time.Now()
		resp, err := node.http.Do(req)
		require.NoError(b, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat[len(lat)/2]
}
