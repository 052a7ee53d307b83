package stm

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/internal/proctest"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/stm/internal/connlink"
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
// is the sum of the two. It returns the time op took in all.
func ratioBench(b *testing.B, metric string, baseline, op func()) time.Duration {
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
	return real
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

// BenchmarkCommitRemote: commit with the backup bank in another OS process
// (this test binary re-executed, see benchBackupProcess) on loopback TCP,
// against a raw TCP round trip carrying the same bytes to an echo server in
// a clean process of its own (benchEchoProcess: nothing else runs there,
// as nothing else runs beside a raw TCP program), measured in the same run. The plain sub-benchmarks
// (small, page, 64pages, 64pages-writeat) go through kernel/link's
// authenticated TCP link and its Mux channel for link.ServiceSTM, as a node
// does. For comparison, the nomux/ ones use the same link without the Mux
// (RemoteMirror and ServeBackup on the link.TCP itself: no routing
// goroutine), the connlink/ ones stm's minimal vectored test link
// (internal/connlink).
func BenchmarkCommitRemote(b *testing.B) {
	for _, via := range []string{benchViaKernelLink, benchViaNoMux, benchViaConnlink} {
		for _, s := range benchShapes {
			name := s.name
			if via != benchViaKernelLink {
				name = via + "/" + s.name
			}
			b.Run(name, func(b *testing.B) { benchRemote(b, s, via) })
		}
	}
}

// How the benchmark reaches the backup process.
const (
	benchViaKernelLink = "kernel-link" // link.TCP + Mux channel
	benchViaNoMux      = "nomux"       // link.TCP alone
	benchViaConnlink   = "connlink"    // stm/internal/connlink on a plain socket
)

func benchRemote(b *testing.B, s benchShape, via string) {
	proc := startBenchBackup(b, via)
	m := proc.mirror(b)
	bank := NewBank(Config{})
	if err := bank.Attach(context.Background(), m); err != nil {
		b.Fatal(err)
	}
	data := shapeData(s)
	b.SetBytes(int64(s.objects * s.size))
	ratioBench(b, "x-tcp", tcpRoundTrip(b, proc.rawAddr, s.objects*s.size), commitOp(b, bank, s, data))
}

// benchBackup is the parent's view of a running backup process.
type benchBackup struct {
	via      string
	linkAddr string // where the backup bank is served
	rawAddr  string // the raw TCP echo server of the baseline, in its own process
}

// startBenchBackup starts the backup process and the baseline's echo
// process and reads their addresses; both are killed when the benchmark
// ends.
func startBenchBackup(b *testing.B, via string) *benchBackup {
	proc := proctest.Start(b, proctest.Spec{Role: "bench-backup", Args: []string{via}})
	line := proc.Line()
	p := &benchBackup{via: via}
	var inBackup string // the backup process's own echo server, unused
	if _, err := fmt.Sscanf(line, "addr %s %s", &p.linkAddr, &inBackup); err != nil {
		b.Fatalf("backup process said %q: %v", line, err)
	}
	line = proctest.Start(b, proctest.Spec{Role: "bench-echo"}).Line()
	if _, err := fmt.Sscanf(line, "addr %s", &p.rawAddr); err != nil {
		b.Fatalf("echo process said %q: %v", line, err)
	}
	return p
}

// benchEchoProcess, the baseline's process of BenchmarkCommitRemote,
// prints "addr <raw echo>" and answers raw round trips (echoAcks) until
// its parent goes: a clean process, as a raw TCP program's peer is.
func benchEchoProcess([]string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("addr %s\n", ln.Addr())
	echoAcks(ln)
	return nil
}

// mirror connects to the backup process the way p.via says.
func (p *benchBackup) mirror(b *testing.B) *RemoteMirror {
	ctx := context.Background()
	var ch link.Link
	if p.via == benchViaConnlink {
		conn, err := net.Dial("tcp", p.linkAddr)
		if err != nil {
			b.Fatal(err)
		}
		ch = connlink.New(conn, "backup")
	} else {
		node, err := link.Dial(ctx, p.linkAddr, linkConfig("primary"))
		if err != nil {
			b.Fatal(err)
		}
		if ch, err = viaChannel(p.via, node); err != nil {
			b.Fatal(err)
		}
	}
	m := NewRemoteMirror(ch, RemoteConfig{})
	b.Cleanup(func() { _ = m.Close() })
	return m
}

// benchBackupProcess, the backup process of BenchmarkCommitRemote, prints
// "addr <backup> <raw echo>", serves one primary with a fresh backup bank
// the way its argument says and answers raw round trips beside it, until
// the primary's link ends or its parent goes (the role is bound to it).
func benchBackupProcess(args []string) error {
	via := args[0]
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go echoAcks(raw)
	if via == benchViaConnlink {
		return serveConnlinkBackup(raw.Addr().String())
	}
	ln, err := link.Listen("127.0.0.1:0", linkConfig("backup"))
	if err != nil {
		return err
	}
	fmt.Printf("addr %s %s\n", ln.Addr(), raw.Addr())
	ctx := context.Background()
	node, err := ln.Accept(ctx)
	if err != nil {
		return err
	}
	ch, err := viaChannel(via, node)
	if err != nil {
		return err
	}
	_ = ServeBackup(ctx, ch, NewBackup(BackupConfig{}))
	return nil
}

// viaChannel is the STM channel of node: its Mux channel, or with
// benchViaNoMux the link itself.
func viaChannel(via string, node link.Link) (link.Link, error) {
	if via == benchViaNoMux {
		return node, nil
	}
	return stmChannel(node)
}

func serveConnlinkBackup(rawAddr string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("addr %s %s\n", ln.Addr(), rawAddr)
	conn, err := ln.Accept()
	if err != nil {
		return err
	}
	_ = ServeBackup(context.Background(), connlink.New(conn, "primary"), NewBackup(BackupConfig{}))
	return nil
}

// tcpRoundTrip is the baseline of BenchmarkCommitRemote: send n bytes
// (length-prefixed) over loopback TCP to the echo server at addr and wait
// for its one-byte ack.
func tcpRoundTrip(b *testing.B, addr string, n int) func() {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
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

// echoAcks answers every connection to ln: read a length-prefixed message,
// reply one byte.
func echoAcks(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go echoConn(conn)
	}
}

func echoConn(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 64<<10) // as the links read
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		buf := make([]byte, n) // the backup allocates its copy too
		if _, err := io.ReadFull(r, buf); err != nil {
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
	b.Run(fmt.Sprintf("clients=%d", fileClients), benchFileClients)
}

// fileClients is how many committers run at once in BenchmarkCommitFile's
// group-commit sub-benchmark.
const fileClients = 8

// benchFileClients: each op is a round of fileClients concurrent commits
// of one 64-byte object each, against appending all their bytes with one
// write and one fdatasync (perfect group commit). Reports commits/s too.
func benchFileClients(b *testing.B) {
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
	val := make([]byte, 64)
	round := func() {
		var wg sync.WaitGroup
		for i := range fileClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := bank.Update(context.Background(), func(tx *Tx) error { return tx.Put(ID(i+1), val) }); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	real := ratioBench(b, "x-fsync", appendSync(b, dir, fileClients*len(val)), round)
	b.ReportMetric(float64(fileClients*b.N)/real.Seconds(), "commits/s")
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
