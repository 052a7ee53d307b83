package kernel

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/kernel/link/linkcert"
	"github.com/ftm-in-go/ftm/kernel/link/linktest"
)

var benchSecret = []byte("bench-secret-0123456789")

// tcpLinkedNodes joins two nodes a and b over a real TCP link on loopback,
// a listening with ca, b dialing with cb.
func tcpLinkedNodes(b *testing.B, ca, cb link.Config) (*Node, *Node, *link.TCP) {
	lis, err := link.Listen("127.0.0.1:0", ca)
	if err != nil {
		b.Fatal(err)
	}
	defer lis.Close()
	ctx := context.Background()
	acc := make(chan *link.TCP, 1)
	go func() { l, _ := lis.Accept(ctx); acc <- l }()
	lb, err := link.Dial(ctx, lis.Addr(), cb)
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
	return a, bn, lb
}

// remoteChunk is how many round trips run before switching between the
// kernel and the raw baseline, so machine load weighs on both alike.
const remoteChunk = 256

// BenchmarkRemoteRPC: request + reply between tasks on two nodes joined by
// a TCP link on loopback, 64-byte body, reply by send-once right.
//
//   - plain: the link authenticated by the shared secret, frames in the
//     clear (a node's --plain-links). x-tcp = its time over a raw TCP
//     ping-pong of 64 bytes measured in the same run, interleaved in
//     chunks of remoteChunk. Target ≤ 1.2.
//   - tls: the link over mutual TLS 1.3 with certificates of one CA, as
//     nodes run by default. x-tls = its time over a raw TLS ping-pong of 64
//     bytes with the same version and cipher suite (checked), between the
//     same endpoints (this process, as the link's two nodes), interleaved
//     the same way.
func BenchmarkRemoteRPC(b *testing.B) {
	b.Run("plain", func(b *testing.B) {
		a, bn, _ := tcpLinkedNodes(b, link.Config{Name: "a", Secret: benchSecret}, link.Config{Name: "b", Secret: benchSecret})
		raw := linktest.NewRawPingPong(b, 64)
		benchRemoteRPC(b, a, bn, remoteBaseline{run: raw.Run, unit: "ns/tcp-rtt", ratio: "x-tcp"})
	})
	b.Run("tls", func(b *testing.B) {
		ids := benchIdentities(b)
		a, bn, lb := tcpLinkedNodes(b, link.Config{Name: "a", TLS: ids["a"]}, link.Config{Name: "b", Peer: "a", TLS: ids["b"]})
		raw, echoState := linktest.NewTLSPingPong(b, 64, serverTLS(ids["a"]), clientTLS(ids["b"], "a"))
		linkState, _ := lb.TLSState()
		if linkState.Version != echoState.Version || linkState.CipherSuite != echoState.CipherSuite {
			b.Fatalf("the baseline negotiated %s, the link %s", tls.CipherSuiteName(echoState.CipherSuite), tls.CipherSuiteName(linkState.CipherSuite))
		}
		b.Logf("link and baseline: TLS 1.3, %s", tls.CipherSuiteName(linkState.CipherSuite))
		benchRemoteRPC(b, a, bn, remoteBaseline{run: raw.Run, unit: "ns/tls-rtt", ratio: "x-tls"})
	})
}

// remoteBaseline is the raw round trip a remote benchmark is compared
// with: run times n round trips; unit and ratio name the metrics reported.
type remoteBaseline struct {
	run         func(tb testing.TB, n int) time.Duration
	unit, ratio string
}

// benchRemoteRPC times b.N calls from a task of bn to a server task of a,
// alternating chunks with the baseline, and reports both and their ratio.
func benchRemoteRPC(b *testing.B, a, bn *Node, base remoteBaseline) {
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
	go answerRequests(ctx, server, svc)
	body := make([]byte, 64)
	var elapsed, baseline time.Duration
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
		baseline += base.run(b, k)
		b.StartTimer()
	}
	b.ReportMetric(float64(baseline.Nanoseconds())/float64(b.N), base.unit)
	b.ReportMetric(float64(elapsed)/float64(baseline), base.ratio)
}

// answerRequests answers every request on svc to its reply right, until the
// task's port goes.
func answerRequests(ctx context.Context, server *Task, svc Name) {
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
}

// benchIdentities makes a CA and certificates for nodes a and b.
func benchIdentities(b *testing.B) map[string]*link.TLS {
	dir := b.TempDir()
	if err := linkcert.Create(dir, "a", "b"); err != nil {
		b.Fatal(err)
	}
	ids := map[string]*link.TLS{}
	for _, n := range []string{"a", "b"} {
		id, err := linkcert.Load(linkcert.NodePaths(dir, n))
		if err != nil {
			b.Fatal(err)
		}
		ids[n] = id
	}
	return ids
}

// serverTLS and clientTLS are the TLS configurations of a link's listener
// and dialer (kernel/link's tls.go) for the raw baseline.
func serverTLS(id *link.TLS) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{id.Cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: id.CA, SessionTicketsDisabled: true}
}

func clientTLS(id *link.TLS, peer string) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{id.Cert}, RootCAs: id.CA, ServerName: peer}
}
