package kernel

import (
	"context"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/kernel/link/linktest"
)

var benchSecret = []byte("bench-secret-0123456789")

// tcpLinkedNodes joins two nodes over a real authenticated TCP link on
// loopback.
func tcpLinkedNodes(b *testing.B) (*Node, *Node) {
	lis, err := link.Listen("127.0.0.1:0", link.Config{Name: "a", Secret: benchSecret})
	if err != nil {
		b.Fatal(err)
	}
	defer lis.Close()
	ctx := context.Background()
	acc := make(chan *link.TCP, 1)
	go func() { l, _ := lis.Accept(ctx); acc <- l }()
	lb, err := link.Dial(ctx, lis.Addr(), link.Config{Name: "b", Secret: benchSecret})
	if err != nil {
		b.Fatal(err)
	}
	la := <-acc
	a, bn := NewNode(Config{Name: "a"}), NewNode(Config{Name: "b"})
	if err := a.AttachLink(la); err != nil {
		b.Fatal(err)
	}
	if err := bn.AttachLink(lb); err != nil {
		b.Fatal(err)
	}
	return a, bn
}

// remoteChunk is how many round trips run before switching between the
// kernel and the raw baseline, so machine load weighs on both alike.
const remoteChunk = 256

// BenchmarkRemoteRPC: request + reply between tasks on two nodes joined by
// an authenticated TCP link on loopback, 64-byte body, reply by send-once
// right. x-tcp = its time over a raw TCP ping-pong of 64 bytes measured in
// the same run, interleaved in chunks of remoteChunk. Target ≤ 1.5.
func BenchmarkRemoteRPC(b *testing.B) {
	a, bn := tcpLinkedNodes(b)
	defer a.Shutdown()
	defer bn.Shutdown()
	server, _ := a.NewTask("server")
	client, _ := bn.NewTask("client")
	svc, _ := server.AllocatePort()
	if err := server.Register("svc", svc); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	to, err := client.Lookup(ctx, "a", "svc")
	if err != nil {
		b.Fatal(err)
	}
	reply, _ := client.AllocatePort()
	go func() {
		for {
			m, err := server.Receive(ctx, svc)
			if err != nil {
				return
			}
			m.Dest, m.DestDisp, m.Reply = m.Reply, MoveSendOnce, NameNull
			if server.Send(ctx, m) != nil {
				return
			}
		}
	}()
	body := make([]byte, 64)
	raw := linktest.NewRawPingPong(b, 64)
	var elapsed, base time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; done += remoteChunk {
		k := min(remoteChunk, b.N-done)
		start := time.Now()
		for i := 0; i < k; i++ {
			if err := client.Send(ctx, &Message{Dest: to, Reply: reply, Body: body}); err != nil {
				b.Fatal(err)
			}
			if _, err := client.Receive(ctx, reply); err != nil {
				b.Fatal(err)
			}
		}
		elapsed += time.Since(start)
		b.StopTimer()
		base += raw.Run(b, k)
		b.StartTimer()
	}
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "ns/tcp-rtt")
	b.ReportMetric(float64(elapsed)/float64(base), "x-tcp")
}
