package link

import (
	"context"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel/link/linktest"
)

// benchChunk is how many round trips run before switching between the link
// and the raw baseline, so load on the machine weighs on both alike.
const benchChunk = 256

// BenchmarkTCPLinkPingPong: a 64-byte frame and its answer over an
// authenticated loopback link, against a raw TCP ping-pong of the same 64
// bytes measured in the same run, interleaved in chunks. ns/op is the link's
// round trip; metric x-tcp = link time / raw time.
func BenchmarkTCPLinkPingPong(b *testing.B) {
	benchPingPong(b, context.Background())
}

// BenchmarkTCPLinkPingPongCancellable is BenchmarkTCPLinkPingPong with a
// context that can end (as the kernel's is): each Recv arms an interrupt.
func BenchmarkTCPLinkPingPongCancellable(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	benchPingPong(b, ctx)
}

func benchPingPong(b *testing.B, ctx context.Context) {
	lnk := newLinkPingPong(b)
	raw := linktest.NewRawPingPong(b, 64)
	var tLink, tRaw time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; done += benchChunk {
		n := min(benchChunk, b.N-done)
		tLink += lnk.run(b, ctx, n)
		b.StopTimer()
		tRaw += raw.Run(b, n)
		b.StartTimer()
	}
	b.ReportMetric(float64(tRaw.Nanoseconds())/float64(b.N), "ns/raw-rtt")
	b.ReportMetric(float64(tLink)/float64(tRaw), "x-tcp")
}

type linkPingPong struct {
	d    *TCP
	body []byte
}

func newLinkPingPong(b *testing.B) *linkPingPong {
	d, a := tcpPair(b, Config{Name: "alpha", Secret: secret}, Config{Name: "beta", Secret: secret})
	go func() { // echo server
		ctx := context.Background()
		for {
			f, err := a.Recv(ctx)
			if err != nil || a.Send(ctx, f) != nil {
				return
			}
		}
	}()
	return &linkPingPong{d: d, body: make([]byte, 64)}
}

func (p *linkPingPong) run(b *testing.B, ctx context.Context, n int) time.Duration {
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := p.d.Send(ctx, Frame{Service: ServicePorts, Seq: uint64(i), Body: p.body}); err != nil {
			b.Fatal(err)
		}
		if _, err := p.d.Recv(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}
