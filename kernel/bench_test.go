package kernel

import (
	"context"
	"testing"
	"time"
)

// localChunk is how many operations run before switching between the
// kernel and its channel baseline, so machine load weighs on both alike.
const localChunk = 4096

// chanRPC is a raw unbuffered Go channel round trip between two
// goroutines: the baseline of BenchmarkLocalRPC.
type chanRPC struct{ req, rep chan []byte }

func newChanRPC(b *testing.B) *chanRPC {
	c := &chanRPC{req: make(chan []byte), rep: make(chan []byte)}
	go func() {
		for m := range c.req {
			c.rep <- m
		}
	}()
	b.Cleanup(func() { close(c.req) })
	return c
}

// run times n request/reply exchanges.
func (c *chanRPC) run(n int) time.Duration {
	body := make([]byte, 64)
	start := time.Now()
	for i := 0; i < n; i++ {
		c.req <- body
		body = <-c.rep
	}
	return time.Since(start)
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
// Go channel round trip measured in the same run, interleaved in chunks of
// localChunk. Target ≤ 3.
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
	raw := newChanRPC(b)
	var elapsed, base time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += localChunk {
		k := min(localChunk, b.N-done)
		start := time.Now()
		for i := 0; i < k; i++ {
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
		elapsed += time.Since(start)
		b.StopTimer()
		base += raw.run(k)
		b.StartTimer()
	}
	b.StopTimer()
	server.Terminate()
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "ns/chan-rtt")
	b.ReportMetric(float64(elapsed)/float64(base), "x-chan")
}

// BenchmarkLocalOneWay: one-way messages from one task to another, 64-byte
// body, queue limit 64, messages recycled with NewMessage/Free. x-chan =
// its time over a buffered channel of the same capacity in the same run,
// interleaved in chunks of localChunk.
// Target ≤ 3 and at most one allocation per message.
func BenchmarkLocalOneWay(b *testing.B) {
	n := NewNode(Config{Name: "bench"})
	defer n.Shutdown()
	rcv, _ := n.NewTask("rcv")
	snd, _ := n.NewTask("snd")
	p, _ := rcv.AllocatePort()
	to, _ := rcv.InsertRight(snd, p, MakeSend, NameNull)
	ctx := context.Background()
	chunks, done := make(chan int), make(chan struct{})
	go func() { // receives each chunk, then says so
		defer close(done)
		for k := range chunks {
			for i := 0; i < k; i++ {
				m, err := rcv.Receive(ctx, p)
				if err != nil {
					return
				}
				m.Free()
			}
			done <- struct{}{}
		}
	}()
	defer close(chunks)
	body := make([]byte, 64)
	var elapsed, base time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for sent := 0; sent < b.N; sent += localChunk {
		k := min(localChunk, b.N-sent)
		start := time.Now()
		chunks <- k
		for i := 0; i < k; i++ {
			m := NewMessage()
			m.Dest, m.Body = to, body
			if err := snd.Send(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
		<-done
		elapsed += time.Since(start)
		b.StopTimer()
		base += chanOneWay(k, DefaultQueueLimit)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "ns/chan-msg")
	b.ReportMetric(float64(elapsed)/float64(base), "x-chan")
}
