package publish

import (
	"context"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// counter counts the messages it handles and signals when it has seen
// want (want and done are the benchmark's, not the machine's state).
type counter struct {
	n    uint64
	want *uint64
	done chan struct{}
}

func (c *counter) Handle(*Env, *kernel.Message) error {
	c.n++
	if c.want != nil && c.n == *c.want {
		select {
		case c.done <- struct{}{}:
		default: // a replay reaching the count again
		}
	}
	return nil
}

func (c *counter) Snapshot() ([]byte, error) { return make([]byte, 8), nil }
func (c *counter) Restore([]byte) error      { return nil }

// oneWay times n one-way 64-byte messages from a sender task to the port
// to, until done says the receiver has them all.
func oneWay(ctx context.Context, from *kernel.Task, to kernel.Name, n int, done <-chan struct{}) time.Duration {
	start := time.Now()
	for range n {
		m := kernel.NewMessage()
		m.Dest, m.Body = to, make([]byte, 64)
		if err := from.Send(ctx, m); err != nil {
			panic(err)
		}
	}
	<-done
	return time.Since(start)
}

// BenchmarkPublishedSend: a one-way message (64-byte body) to a published
// task — recorded in a bank mirrored in process before the task sees it —
// against the same message to an unpublished kernel task in the same run:
// x-kernel is the ratio for a sender on the same node, x-netmsg for a
// sender on another node (an authenticated TCP link on loopback). The
// task's state is 8 bytes, so §5's rule (rule=s5) checkpoints it after
// every message; rule=64KiB waits for 64 KiB of log, which leaves the
// cost of recording alone.
func BenchmarkPublishedSend(b *testing.B) {
	b.Run("rule=s5", func(b *testing.B) { benchPublishedSend(b, Rule{}, false) })
	b.Run("rule=64KiB", func(b *testing.B) { benchPublishedSend(b, Rule{MinBytes: 64 << 10}, false) })
	b.Run("remote/rule=64KiB", func(b *testing.B) { benchPublishedSend(b, Rule{MinBytes: 64 << 10}, true) })
}

func benchPublishedSend(b *testing.B, rule Rule, remote bool) {
	ctx := context.Background()
	node, from := benchNodes(b, remote)
	bank, _ := stmtest.Mirrored(b)
	mgr := NewManager(Config{Node: node, Bank: bank, Rule: rule})
	defer mgr.Stop()
	want, pubDone := uint64(b.N), make(chan struct{}, 1)
	if _, err := mgr.Start(ctx, Spec{Name: "sink", New: func() Machine {
		return &counter{want: &want, done: pubDone}
	}}); err != nil {
		b.Fatal(err)
	}
	plainDone := plainReceiver(b, node)
	sender, _ := from.NewTask("sender")
	pub, err := sender.Lookup(ctx, node.Name(), "sink")
	if err != nil {
		b.Fatal(err)
	}
	plain, err := sender.Lookup(ctx, node.Name(), "plain")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	kt := oneWay(ctx, sender, plain, b.N, plainDone)
	pt := oneWay(ctx, sender, pub, b.N, pubDone)
	b.StopTimer()
	b.ReportMetric(float64(kt.Nanoseconds())/float64(b.N), "kernel-ns/msg")
	b.ReportMetric(float64(pt.Nanoseconds())/float64(b.N), "published-ns/msg")
	metric := "x-kernel"
	if remote {
		metric = "x-netmsg"
	}
	b.ReportMetric(float64(pt)/float64(kt), metric)
}

// benchNodes returns the receivers' node and the sender's: the same node,
// or two nodes joined by an authenticated TCP link on loopback.
func benchNodes(b *testing.B, remote bool) (*kernel.Node, *kernel.Node) {
	a := kernel.NewNode(kernel.Config{Name: "a"})
	b.Cleanup(a.Shutdown)
	if !remote {
		return a, a
	}
	ln, err := link.Listen("127.0.0.1:0", linkConfig("a"))
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan *link.TCP, 1)
	go func() { l, _ := ln.Accept(context.Background()); acc <- l }()
	ls, err := link.Dial(context.Background(), ln.Addr(), linkConfig("s"))
	if err != nil {
		b.Fatal(err)
	}
	s := kernel.NewNode(kernel.Config{Name: "s"})
	b.Cleanup(s.Shutdown)
	if err := a.AttachLink(<-acc); err != nil {
		b.Fatal(err)
	}
	if err := s.AttachLink(ls); err != nil {
		b.Fatal(err)
	}
	return a, s
}

// plainReceiver is an unpublished task draining a port of its own,
// registered as "plain"; it signals on the returned channel after each
// b.N messages.
func plainReceiver(b *testing.B, node *kernel.Node) <-chan struct{} {
	recv, _ := node.NewTask("plain")
	port, _ := recv.AllocatePort()
	if err := recv.Register("plain", port); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{}, 1)
	go func() {
		for i := 1; ; i++ {
			m, err := recv.Receive(context.Background(), port)
			if err != nil {
				return
			}
			m.Free()
			if i%b.N == 0 {
				done <- struct{}{}
			}
		}
	}()
	b.Cleanup(recv.Terminate)
	return done
}

// BenchmarkReplay: recovering a published task whose log holds 10^4
// messages (64-byte bodies, no checkpoint since its start): reading the
// checkpoint and the log from the bank and feeding every message to a
// new incarnation. msgs/s is the replay rate.
func BenchmarkReplay(b *testing.B) {
	const logged = 10_000
	ctx := context.Background()
	node, _ := benchNodes(b, false)
	bank, _ := stmtest.Mirrored(b)
	mgr := NewManager(Config{Node: node, Bank: bank, Rule: Rule{Factor: -1}})
	defer mgr.Stop()
	want, done := uint64(logged), make(chan struct{}, 1)
	p, err := mgr.Start(ctx, Spec{Name: "sink", New: func() Machine { return &counter{want: &want, done: done} }})
	if err != nil {
		b.Fatal(err)
	}
	sender, _ := node.NewTask("sender")
	to, err := sender.Lookup(ctx, "a", "sink")
	if err != nil {
		b.Fatal(err)
	}
	oneWay(ctx, sender, to, logged, done)
	b.ResetTimer()
	for range b.N {
		if _, err := p.restore(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*logged)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/recovery")
}

// BenchmarkTakeoverRecovery: a published task's node dies with 10^4
// messages in its log (no checkpoint since its start); the survivor's
// backup bank takes over and its manager recovers the task: from the
// takeover to the last message replayed. The log is written before each
// timed recovery, with the timer stopped.
func BenchmarkTakeoverRecovery(b *testing.B) {
	const logged = 10_000
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		backup, done := loggedTask(b, logged)
		node, _ := benchNodes(b, false)
		b.StartTimer()
		bank, _, err := backup.Takeover(ctx, stm.Config{})
		if err != nil {
			b.Fatal(err)
		}
		stmtest.Protect(b, bank)
		mgr := NewManager(Config{Node: node, Bank: bank, Rule: Rule{Factor: -1}})
		if _, err := mgr.Takeover(ctx, []Spec{countingSpec(logged, done)}); err != nil {
			b.Fatal(err)
		}
		<-done
		b.StopTimer()
		mgr.Stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/recovery")
}

// countingSpec is a published counter that signals done at its want-th
// message.
func countingSpec(want uint64, done chan struct{}) Spec {
	return Spec{Name: "sink", New: func() Machine { return &counter{want: &want, done: done} }}
}

// loggedTask runs a published counter on a node of its own until n
// messages are in its log, then kills the node and its bank; it returns
// the bank's backup.
func loggedTask(b *testing.B, n int) (*stm.Backup, chan struct{}) {
	ctx := context.Background()
	node := kernel.NewNode(kernel.Config{Name: "a"})
	defer node.Shutdown()
	bank, backup := stmtest.Mirrored(b)
	defer bank.Close()
	mgr := NewManager(Config{Node: node, Bank: bank, Rule: Rule{Factor: -1}})
	defer mgr.Stop()
	done := make(chan struct{}, 1)
	if _, err := mgr.Start(ctx, countingSpec(uint64(n), done)); err != nil {
		b.Fatal(err)
	}
	sender, _ := node.NewTask("sender")
	to, err := sender.Lookup(ctx, "a", "sink")
	if err != nil {
		b.Fatal(err)
	}
	oneWay(ctx, sender, to, n, done)
	return backup, done
}
