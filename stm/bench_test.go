package stm

import (
	"context"

	"encoding/binary"
	"github.com/ftm-in-go/ftm/kernel/link"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchShape is one sub-benchmark: n objects of size bytes each.
type benchShape struct {
	name    string
	objects int
	size    int
	writeAt bool // copy the bytes in with WriteAt instead of handing them over with Put
}

// The sub-benchmarks. Put hands the bank the caller's bytes (the RVM pager
// hands over the page images it captured); the -writeat variant shows the
// cost of the bank copying them in.
var benchShapes = []benchShape{
	{"small", 1, 64, false},
	{"page", 1, 8192, false},
	{"64pages", 64, 8192, false},
	{"64pages-writeat", 64, 8192, true},
}

// ratioBench runs baseline and op b.N times each, alternating blocks of
// ratioBlock iterations (each side runs in steady state, and both see the
// same machine and disk conditions), and reports op's time per operation
// (ns/commit), the baseline's (ns/base) and their ratio under metric. ns/op
// is the sum of the two.
func ratioBench(b *testing.B, metric string, baseline, op func()) {
	baseline() // warm up both
	op()
	b.ResetTimer()
	var base, real time.Duration
	for done := 0; done < b.N; done += ratioBlock {
		n := min(ratioBlock, b.N-done)
		base += timeN(n, baseline)
		real += timeN(n, op)
	}
	b.ReportMetric(float64(real.Nanoseconds())/float64(b.N), "ns/commit")
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "ns/base")
	b.ReportMetric(float64(real)/float64(base), metric)
}

const ratioBlock = 32

func timeN(n int, f func()) time.Duration {
	start := time.Now()
	for range n {
		f()
	}
	return time.Since(start)
}

func shapeData(s benchShape) [][]byte {
	data := make([][]byte, s.objects)
	for i := range data {
		data[i] = make([]byte, s.size)
		for j := range data[i] {
			data[i][j] = byte(i + j)
		}
	}
	return data
}

// commitOp commits one transaction writing every object of the shape.
func commitOp(b *testing.B, bank *Bank, s benchShape, data [][]byte) func() {
	ctx := context.Background()
	write := func(tx *Tx, id ID, d []byte) error { return tx.Put(id, d) }
	if s.writeAt {
		write = func(tx *Tx, id ID, d []byte) error { return tx.WriteAt(id, 0, d) }
	}
	return func() {
		err := bank.Update(ctx, func(tx *Tx) error {
			for i, d := range data {
				if err := write(tx, ID(i+1), d); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// mapCopy is the baseline of BenchmarkCommitLocal: the same bytes copied
// into a map.
func mapCopy(data [][]byte) func() {
	m := make(map[ID][]byte)
	return func() {
		for i, d := range data {
			m[ID(i+1)] = append([]byte(nil), d...)
		}
	}
}

// BenchmarkCommitLocal: commit with the in-process mirror (the backup bank
// copies the new versions too) against copying the same bytes into a map.
func BenchmarkCommitLocal(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			p := newPair(b, Config{Logger: nopLogger()}, BackupConfig{})
			data := shapeData(s)
			b.SetBytes(int64(s.objects * s.size))
			ratioBench(b, "x-copy", mapCopy(data), commitOp(b, p.b, s, data))
		})
	}
}

// BenchmarkCommitRemote: commit with the backup bank behind ServeBackup on
// a real loopback TCP link (in this process), against a raw TCP round trip
// carrying the same bytes. The plain sub-benchmarks use stm's minimal
// vectored TCP link (internal/connlink); the kernel-link/ ones go through
// kernel/link's authenticated TCP link and its Mux, as production does.
func BenchmarkCommitRemote(b *testing.B) {
	for _, kernelLink := range []bool{false, true} {
		for _, s := range benchShapes {
			name := s.name
			if kernelLink {
				name = "kernel-link/" + s.name
			}
			b.Run(name, func(b *testing.B) { benchRemote(b, s, kernelLink) })
		}
	}
}

func benchRemote(b *testing.B, s benchShape, kernelLink bool) {
	k := NewBackup(BackupConfig{})
	var m *RemoteMirror
	if kernelLink {
		m = serveKernelLink(b, k)
	} else {
		m, _ = serveRemote(b, k, RemoteConfig{})
	}
	bank := NewBank(Config{})
	if err := bank.Attach(context.Background(), m); err != nil {
		b.Fatal(err)
	}
	data := shapeData(s)
	b.SetBytes(int64(s.objects * s.size))
	ratioBench(b, "x-tcp", tcpRoundTrip(b, s.objects*s.size), commitOp(b, bank, s, data))
}

// serveKernelLink serves k over kernel/link's TCP link and Mux channel.
func serveKernelLink(b *testing.B, k *Backup) *RemoteMirror {
	ctx := context.Background()
	cfg := func(name string) link.Config {
		return link.Config{Name: name, Secret: []byte("benchmark-shared-secret-0123456")}
	}
	ln, err := link.Listen("127.0.0.1:0", cfg("backup"))
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan link.Link, 1)
	go func() {
		node, err := ln.Accept(ctx)
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- node
	}()
	pnode, err := link.Dial(ctx, ln.Addr(), cfg("primary"))
	if err != nil {
		b.Fatal(err)
	}
	bnode := <-accepted
	if bnode == nil {
		b.Fatal("accept failed")
	}
	pch, _ := link.NewMux(pnode, nil).Channel(link.ServiceSTM)
	bch, _ := link.NewMux(bnode, nil).Channel(link.ServiceSTM)
	go func() { _ = ServeBackup(ctx, bch, k) }()
	b.Cleanup(func() { _ = pnode.Close(); _ = bnode.Close() })
	return NewRemoteMirror(pch, RemoteConfig{})
}

// tcpRoundTrip is the baseline of BenchmarkCommitRemote: send n bytes
// (length-prefixed) over loopback TCP and wait for a one-byte ack.
func tcpRoundTrip(b *testing.B, n int) func() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go echoAcks(ln)
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close(); _ = ln.Close() })
	msg := make([]byte, 4+n)
	binary.BigEndian.PutUint32(msg, uint32(n))
	ack := make([]byte, 1)
	return func() {
		if _, err := conn.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, ack); err != nil {
			b.Fatal(err)
		}
	}
}

func echoAcks(ln net.Listener) {
	conn, err := ln.Accept()
	if err != nil {
		return
	}
	defer conn.Close()
	var hdr [4]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		buf = make([]byte, n) // the backup allocates its copy too
		if _, err := io.ReadFull(conn, buf); err != nil {
			return
		}
		if _, err := conn.Write(hdr[:1]); err != nil {
			return
		}
	}
}

// BenchmarkCommitFile: commit with the file-backed bank (log append and
// fdatasync per commit) against appending the same bytes to a file plus one
// fdatasync. FTM_BENCH_DIR picks the file system (default: the test's
// temporary directory).
func BenchmarkCommitFile(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			dir := benchDir(b)
			fm, err := OpenFile(filepath.Join(dir, "stm.log"), FileConfig{CompactBytes: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = fm.Close() })
			bank := NewBank(Config{})
			if err := bank.Attach(context.Background(), fm); err != nil {
				b.Fatal(err)
			}
			data := shapeData(s)
			b.SetBytes(int64(s.objects * s.size))
			ratioBench(b, "x-fsync", appendSync(b, dir, s.objects*s.size), commitOp(b, bank, s, data))
		})
	}
}

func benchDir(b *testing.B) string {
	if d := os.Getenv("FTM_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "stmbench")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

// appendSync is the baseline of BenchmarkCommitFile.
func appendSync(b *testing.B, dir string, n int) func() {
	f, err := os.OpenFile(filepath.Join(dir, "raw.log"), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = f.Close() })
	buf := make([]byte, n)
	return func() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := syncData(f); err != nil {
			b.Fatal(err)
		}
	}
}
