package stm

import (
	"context"
	"encoding/binary"
	"io"
	"net"
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

// ratioBench times baseline and op b.N times each in the same run; ns/op is
// op's, and the metric is op's time over the baseline's.
func ratioBench(b *testing.B, metric string, baseline, op func()) {
	b.StopTimer()
	baseline() // warm up both
	op()
	start := time.Now()
	for range b.N {
		baseline()
	}
	base := time.Since(start)
	b.StartTimer()
	start = time.Now()
	for range b.N {
		op()
	}
	real := time.Since(start)
	b.ReportMetric(float64(real)/float64(base), metric)
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
// carrying the same bytes.
func BenchmarkCommitRemote(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			k := NewBackup(BackupConfig{})
			m, _ := serveRemote(b, k, RemoteConfig{})
			bank := NewBank(Config{})
			if err := bank.Attach(context.Background(), m); err != nil {
				b.Fatal(err)
			}
			data := shapeData(s)
			b.SetBytes(int64(s.objects * s.size))
			ratioBench(b, "x-tcp", tcpRoundTrip(b, s.objects*s.size), commitOp(b, bank, s, data))
		})
	}
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
