package kernel

import (
	"context"
	"testing"
	"time"
)

// chanRoundTrip times n request/reply exchanges over raw unbuffered Go
// channels between two goroutines: the baseline of BenchmarkLocalRPC.
func chanRoundTrip(n int) time.Duration {
	req, rep := make(chan []byte), make(chan []byte)
	go func() {
		for b := range req {
			rep <- b
		}
	}()
	body := make([]byte, 64)
	start := time.Now()
	for i := 0; i < n; i++ {
		req <- body
		body = <-rep
	}
	d := time.Since(start)
	close(req)
	return d
}

// chanOneWay times n sends through a buffered channel to a draining
// goroutine: the baseline of BenchmarkLocalOneWay.
func chanOneWay(n, limit int) time.Duration {
	ch := make(chan []byte, limit)
	done := make(chan struct{})
	go func() {
		for i := 0; i < n; i++ {
			<-ch
		}
		close(done)
	}()
	body := make([]byte, 64)
	start := time.Now()
	for i := 0; i < n; i++ {
		ch <- body
	}
	<-done
	return time.Since(start)
}

// BenchmarkLocalRPC: request + reply between two tasks of one node, 64-byte
// body, reply by send-once right. x-chan = its time over a raw unbuffered
// Go channel round trip measured in the same run. Target ≤ 3.
func BenchmarkLocalRPC(b *testing.B) {
	n := NewNode(Config{Name: "bench"})
	defer n.Shutdown()
	server, _ := n.NewTask("server")
	client, _ := n.NewTask("client")
	svc, _ := server.AllocatePort()
	to, _ := server.InsertRight(client, svc, MakeSend, NameNull)
	reply, _ := client.AllocatePort()
	ctx := context.Background()
	go func() {
		for {
			m, err := server.Receive(ctx, svc)
			if err != nil {
				return
			}
			r := m.Reply
			m.Dest, m.DestDisp, m.Reply = r, MoveSendOnce, NameNull
			if server.Send(ctx, m) != nil {
				return
			}
		}
	}()
	body := make([]byte, 64)
	base := chanRoundTrip(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		m := NewMessage()
		m.Dest, m.Reply, m.Body = to, reply, body
		if err := client.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
		r, err := client.Receive(ctx, reply)
		if err != nil {
			b.Fatal(err)
		}
		r.Free()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	server.Terminate()
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "ns/chan-rtt")
	b.ReportMetric(float64(elapsed)/float64(base), "x-chan")
}

// BenchmarkLocalOneWay: one-way messages from one task to another, 64-byte
// body, queue limit 64, messages recycled with NewMessage/Free. x-chan =
// its time over a buffered channel of the same capacity in the same run.
// Target ≤ 3 and at most one allocation per message.
func BenchmarkLocalOneWay(b *testing.B) {
	n := NewNode(Config{Name: "bench"})
	defer n.Shutdown()
	rcv, _ := n.NewTask("rcv")
	snd, _ := n.NewTask("snd")
	p, _ := rcv.AllocatePort()
	to, _ := rcv.InsertRight(snd, p, MakeSend, NameNull)
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		for i := 0; i < b.N; i++ {
			m, err := rcv.Receive(ctx, p)
			if err != nil {
				break
			}
			m.Free()
		}
		close(done)
	}()
	base := chanOneWay(b.N, DefaultQueueLimit)
	body := make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		m := NewMessage()
		m.Dest, m.Body = to, body
		if err := snd.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "ns/chan-msg")
	b.ReportMetric(float64(elapsed)/float64(base), "x-chan")
}
