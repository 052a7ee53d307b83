package rvm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/stm"
)

// backupProcess serves backup banks to every primary that connects, and a
// raw TCP sink (length-prefixed payload in, one byte out) for baselines.
func backupProcess() error {
	ctx := context.Background()
	ln, err := link.Listen("127.0.0.1:0", link.Config{Name: "backup", Secret: testSecret})
	if err != nil {
		return err
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("addr %s raw %s\n", ln.Addr(), raw.Addr())
	if path := os.Getenv(envBackupProfile); path != "" {
		stop, err := profileFor(path, 8*time.Second)
		if err != nil {
			return err
		}
		defer stop()
	}
	go sink(raw)
	for {
		node, err := ln.Accept(ctx)
		if err != nil {
			return err
		}
		go func() {
			ch, err := link.NewMux(node, nil).Channel(link.ServiceSTM)
			if err == nil {
				_ = stm.ServeBackup(ctx, ch, stm.NewBackup(stm.BackupConfig{}))
			}
		}()
	}
}

// envBackupProfile names a file for a CPU profile of the backup process's
// first 8 seconds (FTM_RVM_BACKUP_CPUPROFILE=/tmp/backup.prof go test
// -bench ...): the backup's share of a checkpoint is not in the
// benchmark's own -cpuprofile.
const envBackupProfile = "FTM_RVM_BACKUP_CPUPROFILE"

// profileFor writes a CPU profile to path for d (or until stop).
func profileFor(path string, d time.Duration) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	var once sync.Once
	stop = func() { once.Do(func() { pprof.StopCPUProfile(); f.Close() }) }
	time.AfterFunc(d, stop)
	return stop, nil
}

func sink(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReaderSize(c, 1<<20)
			var hdr [8]byte
			for {
				if _, err := io.ReadFull(r, hdr[:]); err != nil {
					return
				}
				if _, err := io.CopyN(io.Discard, r, int64(binary.BigEndian.Uint64(hdr[:]))); err != nil {
					return
				}
				if _, err := c.Write([]byte{1}); err != nil {
					return
				}
			}
		}()
	}
}

// remoteBackup starts the backup process and returns its link and sink
// addresses.
func remoteBackup(b *testing.B) (string, string) {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := helperCmd(ctx, "backup")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cancel(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	var addr, rawAddr string
	if _, err := fmt.Sscanf(strings.TrimSpace(line), "addr %s raw %s", &addr, &rawAddr); err != nil {
		b.Fatalf("backup said %q: %v", line, err)
	}
	return addr, rawAddr
}

// rawSender sends n bytes over plain TCP and waits for the one-byte answer.
type rawSender struct {
	c   net.Conn
	buf []byte
}

func newRawSender(b *testing.B, addr string, n int) *rawSender {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	buf := make([]byte, 8+n)
	binary.BigEndian.PutUint64(buf, uint64(n))
	return &rawSender{c: c, buf: buf}
}

func (r *rawSender) roundTrip() error {
	if _, err := r.c.Write(r.buf); err != nil {
		return err
	}
	var ack [1]byte
	_, err := io.ReadFull(r.c, ack[:])
	return err
}

// BenchmarkDirtyScan: finding the dirty pages of a 64 MiB segment with 1%
// of its pages written, per method; x-memcmp against one bytes.Equal pass
// over the segment (the cost of comparing everything once), same run.
func BenchmarkDirtyScan(b *testing.B) {
	const size = 64 << 20
	for _, m := range []Method{Compare, WriteTrack} {
		b.Run(m.String(), func(b *testing.B) {
			s, err := NewSegment("big", size, Config{Method: m})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if s.Method() != m {
				b.Skip("no OS write tracking here")
			}
			rng := rand.New(rand.NewSource(1))
			for i := range s.Bytes() { // populate every page
				s.Bytes()[i] = byte(i)
			}
			store := NewMemStore()
			if _, err := s.Checkpoint(context.Background(), store); err != nil {
				b.Fatal(err)
			}
			twin := bytes.Clone(s.Bytes())
			pages := s.Pages()
			var scan, base time.Duration
			for i := 0; i < b.N; i++ {
				for k := 0; k < pages/100; k++ {
					s.Bytes()[rng.Intn(pages)*s.PageSize()+rng.Intn(s.PageSize())]++
				}
				start := time.Now()
				s.mu.Lock()
				_, err := s.dirtyLocked(true)
				s.mu.Unlock()
				scan += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				s.carry = map[int]bool{}
				if err := s.tr.Baseline(); err != nil { // the scanned pages count as saved
					b.Fatal(err)
				}
				copy(twin, s.Bytes()) // equal again, so the baseline reads it all
				start = time.Now()
				if !bytes.Equal(s.Bytes(), twin) {
					b.Fatal("twin differs")
				}
				base += time.Since(start)
			}
			b.ReportMetric(float64(scan.Nanoseconds())/float64(b.N), "ns/scan")
			b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "ns/memcmp")
			b.ReportMetric(float64(scan)/float64(base), "x-memcmp")
		})
	}
}

// editorSegments are the paper's editor case: three small segments.
func editorSegments(b *testing.B) []*Segment {
	var segs []*Segment
	for _, name := range []string{"data", "stack", "heap"} {
		s, err := NewSegment(name, 32*DefaultPageSize, Config{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		segs = append(segs, s)
	}
	return segs
}

// BenchmarkCheckpointPages: a checkpoint of 8 dirty pages spread over 3
// small segments (the paper's editor: 0.98–1.4 s per checkpoint), saved as
// one atomic batch into STM with the backup bank in-process (inproc) or in
// another process over an authenticated TCP link (remote), and into the
// bare in-memory store (memstore: the rvm part alone). ns/op is the
// checkpoint time; x-copy compares it with copying the 8 pages, same run.
func BenchmarkCheckpointPages(b *testing.B) {
	for _, where := range []string{"inproc", "remote", "memstore"} {
		b.Run(where, func(b *testing.B) {
			store := benchStore(b, where)
			segs := editorSegments(b)
			ctx := context.Background()
			dst := make([]byte, 8*DefaultPageSize)
			var ckpt, base time.Duration
			for i := 0; i < b.N; i++ {
				for k := 0; k < 8; k++ {
					s := segs[k%3]
					s.Bytes()[(k*5%s.Pages())*s.PageSize()+i%s.PageSize()]++
				}
				start := time.Now()
				st, err := Checkpoint(ctx, store, segs...)
				ckpt += time.Since(start)
				if err != nil || st.Pages != 8 {
					b.Fatalf("checkpoint: %v (%d pages, want 8)", err, st.Pages)
				}
				start = time.Now()
				for k := 0; k < 8; k++ {
					s := segs[k%3]
					off := (k * 5 % s.Pages()) * s.PageSize()
					copy(dst[k*DefaultPageSize:], s.Bytes()[off:off+s.PageSize()])
				}
				base += time.Since(start)
			}
			b.ReportMetric(8, "pages/ckpt")
			b.ReportMetric(float64(ckpt.Nanoseconds())/float64(b.N), "ns/ckpt")
			b.ReportMetric(float64(ckpt)/float64(base), "x-copy")
		})
	}
}

func benchStore(b *testing.B, where string) PageStore {
	switch where {
	case "memstore":
		return NewMemStore()
	case "inproc":
		bank, _ := newMirroredBank(b)
		return NewSTMStore(bank)
	}
	addr, _ := remoteBackup(b)
	bank, err := remoteBank(context.Background(), addr)
	if err != nil {
		b.Fatal(err)
	}
	return NewSTMStore(bank)
}

// BenchmarkCheckpointScale: checkpoints of 1 to 8192 dirty pages into STM
// mirrored to a backup in another process; MB/s, and x-tcp against sending
// the same bytes over plain TCP to the same process and waiting for an
// answer, same run.
func BenchmarkCheckpointScale(b *testing.B) {
	addr, rawAddr := remoteBackup(b)
	for _, n := range []int{1, 64, 1024, 8192} {
		b.Run(fmt.Sprintf("pages=%d", n), func(b *testing.B) {
			bank, err := remoteBank(context.Background(), addr)
			if err != nil {
				b.Fatal(err)
			}
			store := NewSTMStore(bank)
			s, err := NewSegment("scale", n*DefaultPageSize, Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			raw := newRawSender(b, rawAddr, n*DefaultPageSize)
			var ckpt, base time.Duration
			for i := 0; i < b.N; i++ {
				for p := 0; p < n; p++ {
					s.Bytes()[p*DefaultPageSize+i%DefaultPageSize]++
				}
				start := time.Now()
				st, err := s.Checkpoint(context.Background(), store)
				ckpt += time.Since(start)
				if err != nil || st.Pages != n {
					b.Fatalf("checkpoint: %v (%d pages)", err, st.Pages)
				}
				start = time.Now()
				if err := raw.roundTrip(); err != nil {
					b.Fatal(err)
				}
				base += time.Since(start)
			}
			mb := float64(n*DefaultPageSize) / (1 << 20)
			b.ReportMetric(mb*float64(b.N)/ckpt.Seconds(), "MB/s")
			b.ReportMetric(float64(ckpt.Nanoseconds())/float64(b.N), "ns/ckpt")
			b.ReportMetric(float64(ckpt)/float64(base), "x-tcp")
		})
	}
}
