package link

import (
	"context"
	"github.com/ftm-in-go/ftm/kernel/link/linktest"
	"testing"
	"time"
)

// BenchmarkMuxPingPong is BenchmarkTCPLinkPingPong through a Mux channel on
// both sides (as a node's services use the link), against the same raw TCP
// ping-pong interleaved in the same run: the difference is the Mux's
// receive path (the routing goroutine hands each frame to the channel).
func BenchmarkMuxPingPong(b *testing.B) {
	ctx := context.Background()
	d, a := tcpPair(b, Config{Name: "alpha", Secret: secret}, Config{Name: "beta", Secret: secret})
	md, ma := NewMux(d, nil), NewMux(a, nil)
	cd, _ := md.Channel(ServiceSTM)
	ca, _ := ma.Channel(ServiceSTM)
	go func() { // echo server
		for {
			f, err := ca.Recv(ctx)
			if err != nil || ca.Send(ctx, f) != nil {
				return
			}
		}
	}()
	raw := linktest.NewRawPingPong(b, 64)
	body := make([]byte, 64)
	var tMux, tRaw time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; done += benchChunk {
		n := min(benchChunk, b.N-done)
		start := time.Now()
		for i := range n {
			if err := cd.Send(ctx, Frame{Seq: uint64(i), Body: body}); err != nil {
				b.Fatal(err)
			}
			if _, err := cd.Recv(ctx); err != nil {
				b.Fatal(err)
			}
		}
		tMux += time.Since(start)
		b.StopTimer()
		tRaw += raw.Run(b, n)
		b.StartTimer()
	}
	b.ReportMetric(float64(tRaw.Nanoseconds())/float64(b.N), "ns/raw-rtt")
	b.ReportMetric(float64(tMux)/float64(tRaw), "x-tcp")
}
