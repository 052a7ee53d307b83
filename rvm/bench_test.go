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

	"github.com/ftm-in-go/ftm/internal/proctest"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// backupProcess serves backup banks to every primary that connects, and a
// raw TCP sink (length-prefixed payload in, one byte out) for baselines.
func backupProcess([]string) error {
	ctx := context.Background()
	ln, err := link.Listen("127.0.0.1:0", testLink("backup"))
	if err != nil {
		return err
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	floor, err := link.Listen("127.0.0.1:0", testLink("backup"))
	if err != nil {
		return err
	}
	go linkSink(ctx, floor)
	fmt.Printf("addr %s raw %s floor %s\n", ln.Addr(), raw.Addr(), floor.Addr())
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
			ch, err := stmtest.Channel(node)
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

// Frame kinds of the link sink: a frame of a transfer, its last frame.
const (
	floorPart = 1
	floorLast = 2
)

// linkSink is the transport alone: it receives frames on the STM channel of
// a Mux, as the backup does, keeps their bodies until the last frame of a
// transfer (a backup keeps the pages it receives), then answers one frame.
func linkSink(ctx context.Context, ln *link.Listener) {
	for {
		node, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		go func() {
			ch, err := stmtest.Channel(node)
			if err != nil {
				return
			}
			var kept [][]byte
			var bodies *link.Bodies
			if r, ok := ch.(link.Recycler); ok {
				bodies = r.Bodies()
			}
			for {
				f, err := ch.Recv(ctx)
				if err != nil {
					return
				}
				kept = append(kept, f.Body)
				if f.Kind == floorLast {
					for _, body := range kept {
						bodies.Recycle(body)
					}
					kept = kept[:0]
					if ch.Send(ctx, link.Frame{Service: link.ServiceSTM, Kind: floorLast}) != nil {
						return
					}
				}
			}
		}()
	}
}

// linkSender sends a segment's pages to the link sink in frames of 128
// pages (1 MiB, as the STM mirror cuts them), each one vectored write from
// the pages themselves, and waits for the answer.
type linkSender struct {
	ch    link.Link
	parts [][]byte
}

func newLinkSender(b *testing.B, addr string) *linkSender {
	l, err := link.Dial(context.Background(), addr, testLink("primary"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	ch, err := stmtest.Channel(l)
	if err != nil {
		b.Fatal(err)
	}
	return &linkSender{ch: ch}
}

func (ls *linkSender) roundTrip(s *Segment) error {
	ctx := context.Background()
	vs := ls.ch.(link.VectorSender)
	for p := 0; p < s.Pages(); p += 128 {
		ls.parts = ls.parts[:0]
		for q := p; q < min(p+128, s.Pages()); q++ {
			ls.parts = append(ls.parts, s.Bytes()[q*s.PageSize():(q+1)*s.PageSize()])
		}
		kind := uint8(floorPart)
		if p+128 >= s.Pages() {
			kind = floorLast
		}
		if err := vs.SendVec(ctx, link.Frame{Service: link.ServiceSTM, Kind: kind}, ls.parts); err != nil {
			return err
		}
	}
	_, err := ls.ch.Recv(ctx)
	return err
}

// sink answers raw transfers: an 8-byte header (the length, with
// sinkKeep in its top bit when the bytes are to be kept), the bytes, a
// one-byte answer. Kept bytes are read into one buffer of the transfer's
// size, reused by the next transfer (as a backup keeps a checkpoint's
// pages in recycled frames); the others are read through a 1 MiB buffer
// and dropped.
func sink(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = sinkConn(c)
		}()
	}
}

// sinkKeep marks a raw transfer whose bytes the sink keeps.
const sinkKeep = 1 << 63

func sinkConn(c net.Conn) error {
	r := bufio.NewReaderSize(c, 1<<20)
	var hdr [8]byte
	var kept []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint64(hdr[:])
		var err error
		if n&sinkKeep != 0 {
			n &^= sinkKeep
			if uint64(len(kept)) != n {
				kept = make([]byte, n)
			}
			_, err = io.ReadFull(r, kept)
		} else {
			_, err = io.CopyN(io.Discard, r, int64(n))
		}
		if err != nil {
			return err
		}
		if _, err := c.Write([]byte{1}); err != nil {
			return err
		}
	}
}

// remoteRig is the benchmarks' other processes: the backup process (its
// backup bank and link sink) and a raw TCP sink in a clean process of its
// own (rawSinkProcess: nothing else runs there, as beside a raw TCP
// program; the backup process's own raw sink is not used).
type remoteRig struct {
	addr, rawAddr, floorAddr string
	backupPid, rawPid        int
}

// remoteBackup starts the rig's processes.
func remoteBackup(b *testing.B) remoteRig {
	var r remoteRig
	bk := proctest.Start(b, proctest.Spec{Role: "backup"})
	line := bk.Line()
	var inBackup string
	if _, err := fmt.Sscanf(strings.TrimSpace(line), "addr %s raw %s floor %s", &r.addr, &inBackup, &r.floorAddr); err != nil {
		b.Fatalf("backup said %q: %v", line, err)
	}
	sink := proctest.Start(b, proctest.Spec{Role: "raw-sink"})
	line = sink.Line()
	if _, err := fmt.Sscanf(strings.TrimSpace(line), "raw %s", &r.rawAddr); err != nil {
		b.Fatalf("raw sink said %q: %v", line, err)
	}
	r.backupPid, r.rawPid = bk.Pid(), sink.Pid()
	return r
}

// procCPU returns the CPU time pid's threads have run (nanoseconds, from
// /proc/PID/task/*/schedstat), 0 if it cannot be read.
func procCPU(pid int) time.Duration {
	dirs, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, d := range dirs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, d.Name()))
		if err != nil {
			continue
		}
		var ns int64
		if _, err := fmt.Sscanf(string(b), "%d", &ns); err == nil {
			total += time.Duration(ns)
		}
	}
	return total
}

// cpuOf is the CPU time of this process and of the other process pid.
func cpuOf(pid int) time.Duration { return procCPU(os.Getpid()) + procCPU(pid) }

// rawSinkProcess is the raw baselines' process: it prints "raw R" and
// serves the raw TCP sink until its parent goes.
func rawSinkProcess([]string) error {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("raw %s\n", raw.Addr())
	sink(raw)
	return nil
}

// rawSender sends n bytes over plain TCP and waits for the one-byte answer.
type rawSender struct {
	c   net.Conn
	buf []byte
}

// newRawSender sends n bytes per round trip. With data, they are n bytes
// written once beforehand (resident memory, as a task's pages are) and the
// sink keeps them; without, they are never written (a fresh allocation:
// the kernel reads them from the one shared zero page, always in the
// cache) and the sink drops them.
func newRawSender(b *testing.B, addr string, n int, data bool) *rawSender {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	buf := make([]byte, 8+n)
	hdr := uint64(n)
	if data {
		hdr |= sinkKeep
		for i := 8; i < len(buf); i++ {
			buf[i] = byte(i*7 + 1)
		}
	}
	binary.BigEndian.PutUint64(buf, hdr)
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

// BenchmarkSmallSegmentScan: finding the one page written since the last
// checkpoint in a small segment (a task's progress record, 64 bytes; and
// AutoCompareMax bytes), per method. With write tracking, the scan that
// write-protects the written page again flushes the TLB, whatever the
// number of pages; comparing a small segment costs less, which is why
// Auto compares segments up to AutoCompareMax. x-compare: write-track's
// scan over compare's, same run.
func BenchmarkSmallSegmentScan(b *testing.B) {
	for _, size := range []int{64, AutoCompareMax} {
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			var ns [3]time.Duration
			segs := map[Method]*Segment{}
			for _, m := range []Method{Compare, WriteTrack} {
				s, err := NewSegment("small", size, Config{Method: m})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				if s.Method() != m {
					b.Skip("no OS write tracking here")
				}
				segs[m] = s
			}
			for i := 0; i < b.N; i++ {
				for _, m := range []Method{Compare, WriteTrack} { // alternated
					ns[m] += scanOnce(b, segs[m], i)
				}
			}
			b.ReportMetric(float64(ns[Compare].Nanoseconds())/float64(b.N), "ns/scan-compare")
			b.ReportMetric(float64(ns[WriteTrack].Nanoseconds())/float64(b.N), "ns/scan-write-track")
			b.ReportMetric(float64(ns[WriteTrack])/float64(ns[Compare]), "x-compare")
		})
	}
}

// scanOnce writes one page of s, then times finding it (with reset) and
// counts it saved.
func scanOnce(b *testing.B, s *Segment, i int) time.Duration {
	p := i % s.Pages()
	s.Bytes()[p*s.PageSize()+i%s.PageSize()%len(s.Bytes())]++
	start := time.Now()
	s.mu.Lock()
	set, err := s.dirtyLocked(true)
	s.mu.Unlock()
	d := time.Since(start)
	if err != nil || !set[p] {
		b.Fatalf("page %d not found written (%v)", p, err)
	}
	s.tr.Saved(p, s.Bytes()[p*s.PageSize():(p+1)*s.PageSize()])
	s.carry = map[int]bool{}
	return d
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
		bank, _ := stmtest.Mirrored(b)
		return NewSTMStore(bank)
	}
	addr := remoteBackup(b).addr
	bank, err := stmtest.DialBank(context.Background(), addr, testLink("primary"))
	if err != nil {
		b.Fatal(err)
	}
	return NewSTMStore(bank)
}

// BenchmarkCheckpointScale: checkpoints of 1 to 8192 dirty pages into STM
// mirrored to a backup in another process; MB/s, and x-tcp against sending
// the same number of bytes over plain TCP to a clean process of its own,
// which keeps them (in one buffer reused by the next transfer, as the
// backup keeps the pages in recycled frames), and waiting for an answer,
// same run. The bytes sent are resident memory written beforehand, as the
// task's pages are; x-tcpzero is the earlier baseline, a buffer never
// written (the kernel reads the shared zero page, always in the cache) and
// bytes the sink drops. x-link is the transport alone against the same raw
// TCP: the same pages sent over kernel/link + Mux to the backup process in
// 1 MiB frames, kept there until the last one and then given back to the
// link, as the backup keeps and recycles them (no STM, no checksum); it is
// the floor under x-tcp on this link. cpu-x-tcp and cpu-x-link are the same
// ratios of the CPU time both processes spent (primary and backup, primary
// and raw sink): a shared machine's load moves them less than wall time.
// The timed checkpoints follow scaleWarmup untimed ones; ns/first-ckpt is
// the first of those, into fresh memory on both sides.
func BenchmarkCheckpointScale(b *testing.B) {
	rig := remoteBackup(b)
	for _, n := range []int{1, 64, 1024, 8192} {
		b.Run(fmt.Sprintf("pages=%d", n), func(b *testing.B) { checkpointScale(b, rig, n) })
	}
}

// scaleTimes are the wall and CPU times (both processes) of one phase.
type scaleTimes struct{ wall, cpu time.Duration }

// timed adds the wall time of fn and the CPU time this process and pid
// spent meanwhile.
func (t *scaleTimes) timed(pid int, fn func() error) error {
	cpu, start := cpuOf(pid), time.Now()
	err := fn()
	t.wall += time.Since(start)
	t.cpu += cpuOf(pid) - cpu
	return err
}

// scaleRun is one sub-benchmark of BenchmarkCheckpointScale: the segment
// and the three ways its pages travel.
type scaleRun struct {
	rig   remoteRig
	n     int
	s     *Segment
	store *STMStore
	raw   *rawSender // the same bytes, kept by the sink
	zero  *rawSender // the earlier baseline: zero pages, dropped
	floor *linkSender

	ckpt, base, zeroBase, lnk scaleTimes
}

// scaleWarmup is how many checkpoints run before the timed ones: the
// first two of a segment are read into fresh memory on both sides (the
// backup keeps the one before last until the next is in; the primary's
// copies reuse the buffers of the copies superseded), later ones into the
// buffers of the one before last.
const scaleWarmup = 2

func checkpointScale(b *testing.B, rig remoteRig, n int) {
	bank, err := stmtest.DialBank(context.Background(), rig.addr, testLink("primary"))
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewSegment("scale", n*DefaultPageSize, Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := &scaleRun{rig: rig, n: n, s: s, store: NewSTMStore(bank),
		raw: newRawSender(b, rig.rawAddr, n*DefaultPageSize, true), zero: newRawSender(b, rig.rawAddr, n*DefaultPageSize, false),
		floor: newLinkSender(b, rig.floorAddr)}
	var first time.Duration
	for i := 0; i < scaleWarmup; i++ {
		start := time.Now()
		if err := r.round(i, &scaleRun{}); err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			first = time.Since(start)
		}
	}
	for i := 0; i < b.N; i++ {
		if err := r.round(scaleWarmup+i, r); err != nil {
			b.Fatal(err)
		}
	}
	r.report(b, first)
}

// round dirties every page and times one checkpoint and each baseline into
// the times of to.
func (r *scaleRun) round(i int, to *scaleRun) error {
	for p := 0; p < r.n; p++ {
		r.s.Bytes()[p*DefaultPageSize+i%DefaultPageSize]++
	}
	err := to.ckpt.timed(r.rig.backupPid, func() error {
		st, err := r.s.Checkpoint(context.Background(), r.store)
		if err == nil && st.Pages != r.n {
			err = fmt.Errorf("%d pages saved, want %d", st.Pages, r.n)
		}
		return err
	})
	if err == nil {
		err = to.base.timed(r.rig.rawPid, r.raw.roundTrip)
	}
	if err == nil {
		err = to.zeroBase.timed(r.rig.rawPid, r.zero.roundTrip)
	}
	if err == nil {
		err = to.lnk.timed(r.rig.backupPid, func() error { return r.floor.roundTrip(r.s) })
	}
	return err
}

func (r *scaleRun) report(b *testing.B, first time.Duration) {
	mb := float64(r.n*DefaultPageSize) / (1 << 20)
	b.ReportMetric(mb*float64(b.N)/r.ckpt.wall.Seconds(), "MB/s")
	b.ReportMetric(float64(r.ckpt.wall.Nanoseconds())/float64(b.N), "ns/ckpt")
	b.ReportMetric(float64(first.Nanoseconds()), "ns/first-ckpt")
	b.ReportMetric(float64(r.ckpt.wall)/float64(r.base.wall), "x-tcp")
	b.ReportMetric(float64(r.ckpt.wall)/float64(r.zeroBase.wall), "x-tcpzero")
	b.ReportMetric(float64(r.lnk.wall)/float64(r.base.wall), "x-link")
	if r.base.cpu > 0 {
		b.ReportMetric(float64(r.ckpt.cpu)/float64(r.base.cpu), "cpu-x-tcp")
		b.ReportMetric(float64(r.lnk.cpu)/float64(r.base.cpu), "cpu-x-link")
	}
}
