package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/examples/kvstore/kv"
	"github.com/ftm-in-go/ftm/internal/proctest"
	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
	"github.com/stretchr/testify/require"
)

// rttRequest is the size of a raw round trip's request; the answer is one
// byte. About a kv put's request, so the baseline is one small exchange.
const rttRequest = 64

// rttPerUpdate is how many raw round trips are measured after each timed
// update, with the timer stopped: interleaved, so machine load weighs on
// both figures alike.
const rttPerUpdate = 4

// durableBackup is the backup process of BenchmarkDurableUpdate: it serves
// one primary's backup bank over kernel/link (its Mux's STM channel, as
// between the nodes of a pair) and answers raw TCP round trips, and says
// "addr A raw R".
func durableBackup([]string) error {
	ln, err := link.Listen("127.0.0.1:0", linkConfig("backup"))
	if err != nil {
		return err
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go answerRoundTrips(raw)
	fmt.Printf("addr %s raw %s\n", ln.Addr(), raw.Addr())
	return stmtest.ServeOne(context.Background(), ln, stm.NewBackup(stm.BackupConfig{}))
}

// answerRoundTrips answers every rttRequest bytes read on a connection
// with one byte.
func answerRoundTrips(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, rttRequest)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				if _, err := c.Write(buf[:1]); err != nil {
					return
				}
			}
		}()
	}
}

// rawConn is the baseline: one TCP connection to the backup process.
type rawConn struct {
	c   net.Conn
	buf []byte
}

func dialRaw(b *testing.B, addr string) *rawConn {
	c, err := net.Dial("tcp", addr)
	require.NoError(b, err)
	b.Cleanup(func() { c.Close() })
	return &rawConn{c: c, buf: make([]byte, rttRequest)}
}

// roundTrip sends one request and waits for its one-byte answer.
func (r *rawConn) roundTrip() error {
	if _, err := r.c.Write(r.buf); err != nil {
		return err
	}
	_, err := io.ReadFull(r.c, r.buf[:1])
	return err
}

// loadKeys is the benchmark's own update on the kv server: it sets keys
// k0..kN-1 to 0 in one call, so preloading costs one checkpoint.
var loadKeys = servers.NewMethod[int, int]("bench-load", servers.Update).At(kv.Name)

// durableRig is the kv server on a node of this process, its bank mirrored
// to a backup process, and an external client of it.
type durableRig struct {
	node   *kernel.Node
	bank   *stm.Bank // the primary bank (its Stats count the commits)
	client *servers.Client
	raw    *rawConn
}

// newDurableRig starts the backup process and the kv server, and preloads
// keys keys.
func newDurableRig(b *testing.B, keys int) *durableRig {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	addr, rawAddr := startBackup(b)
	bank, err := stmtest.DialBank(ctx, addr, linkConfig("primary"))
	require.NoError(b, err)
	b.Cleanup(func() { _ = bank.Close() })
	node := kernel.NewNode(kernel.Config{Name: "primary"})
	b.Cleanup(node.Shutdown)
	serveBenchKV(b, ctx, node, bank)
	r := &durableRig{node: node, bank: bank, client: externalClient(b, node), raw: dialRaw(b, rawAddr)}
	r.preload(b, keys)
	return r
}

// startBackup starts the backup process and returns its bank's and its raw
// sink's addresses.
func startBackup(b *testing.B) (addr, rawAddr string) {
	line := proctest.Start(b, proctest.Spec{Role: "backup"}).Line()
	if _, err := fmt.Sscanf(strings.TrimSpace(line), "addr %s raw %s", &addr, &rawAddr); err != nil {
		b.Fatalf("backup said %q: %v", line, err)
	}
	return addr, rawAddr
}

// serveBenchKV runs a driver and the kv server (with loadKeys) on node
// over bank until the benchmark ends.
func serveBenchKV(b *testing.B, ctx context.Context, node *kernel.Node, bank *stm.Bank) {
	ctx, cancel := context.WithCancel(ctx)
	task, err := node.NewTask("kv-host")
	require.NoError(b, err)
	d, err := servers.NewDriver(servers.DriverConfig{Host: "kv-host", Task: task, Bank: bank,
		Names: names.NewKernel(task, nil)})
	require.NoError(b, err)
	srv, err := kv.New(servers.Config{Name: kv.Name, Driver: d})
	require.NoError(b, err)
	servers.Handle(srv, loadKeys, func(_ *servers.Call, s *kv.Store, n int) (int, error) {
		for i := range n {
			s.Items.Set(fmt.Sprint("k", i), 0)
		}
		return s.Items.Len(), nil
	})
	d.Start()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		<-done
		d.Close()
	})
}

// clientSeq numbers the external clients of a benchmark's process.
var clientSeq int

// externalClient is an external client (no recovery unit) on node: the
// server makes each of its updates durable before answering (output
// commit). One attempt per call, so a slow call is measured, not retried.
func externalClient(b *testing.B, node *kernel.Node) *servers.Client {
	clientSeq++
	task, err := node.NewTask(fmt.Sprint("client-", clientSeq))
	require.NoError(b, err)
	c, err := servers.NewClient(servers.ClientConfig{Name: fmt.Sprint("bench-", clientSeq), Task: task, Names: names.NewKernel(task, nil),
		Timeout: time.Minute, Retries: 1})
	require.NoError(b, err)
	b.Cleanup(c.Close)
	return c
}

// preload waits for the server to answer, then sets keys keys in one
// durable call and checks the server holds them.
func (r *durableRig) preload(b *testing.B, keys int) {
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := kv.Len.Call(ctx, r.client, struct{}{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the kv server never answered: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	n, err := loadKeys.Call(ctx, r.client, keys)
	require.NoError(b, err)
	require.Equal(b, keys, n)
}

// BenchmarkDurableUpdate: an external client's durable update (kv put of
// an existing key, answered after the server's RU committed: output
// commit) to the kv server holding keys keys, its bank's backup in another
// process. The client and the server share this process's kernel node,
// so the one process boundary an update crosses is the bank's commit to
// its backup; x-tcprtt is ns/op over the median raw TCP round trip (64
// bytes in, one out) to the backup process, measured in the same run
// interleaved with the updates (tcprtt-ns). Target: ns/op at 100,000
// keys ≤ 1.2× at 10 (kv's keys are a servers.Map: a checkpoint writes the
// key that changed, not the whole state).
//
// clients=8: eight external clients (each its own task) update 1,000 keys
// at once, each waiting for its update to be durable; updates/s is the
// throughput, which group commit across clients raises.
func BenchmarkDurableUpdate(b *testing.B) {
	for _, keys := range []int{10, 1000, 100000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			benchDurable(b, keys)
		})
	}
	b.Run("clients=8", func(b *testing.B) { benchDurableClients(b, 10, 8) })
}

func benchDurable(b *testing.B, keys int) {
	r := newDurableRig(b, keys)
	ctx := context.Background()
	put := func(i int) {
		req := kv.PutReq{Key: fmt.Sprint("k", i%keys), Value: int64(i)}
		if _, err := kv.Put.Call(ctx, r.client, req); err != nil {
			b.Fatal(err)
		}
	}
	put(0) // warm: the first put pays for connections and the dup table
	rtts := make([]time.Duration, 0, b.N*rttPerUpdate)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		put(i)
		b.StopTimer()
		rtts = r.raw.sample(b, rtts)
		b.StartTimer()
	}
	b.StopTimer()
	r.check(b, keys, b.N-1)
	rtt := float64(median(rtts).Nanoseconds())
	b.ReportMetric(rtt, "tcprtt-ns")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/rtt, "x-tcprtt")
}

// sample appends the durations of rttPerUpdate round trips to into.
func (r *rawConn) sample(b *testing.B, into []time.Duration) []time.Duration {
	for range rttPerUpdate {
		t0 := time.Now()
		if err := r.roundTrip(); err != nil {
			b.Fatal(err)
		}
		into = append(into, time.Since(t0))
	}
	return into
}

// median is the middle of ds: the round trip of a quiet moment, not one
// that waited for the backup to finish applying a large commit.
func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// check asserts the updates landed: the server still holds keys keys, and
// the last put's key has its value.
func (r *durableRig) check(b *testing.B, keys, last int) {
	ctx := context.Background()
	n, err := kv.Len.Call(ctx, r.client, struct{}{})
	require.NoError(b, err)
	require.Equal(b, keys, n)
	v, err := kv.Get.Call(ctx, r.client, fmt.Sprint("k", last%keys))
	require.NoError(b, err)
	require.Equal(b, int64(last), v)
}
