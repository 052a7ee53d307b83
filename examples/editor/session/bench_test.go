package session

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/devices/files"
	"github.com/ftm-in-go/ftm/devices/screen"
	"github.com/ftm-in-go/ftm/internal/proctest"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
	"github.com/ftm-in-go/ftm/task"
)

func benchLinkConfig(name string) link.Config {
	return link.Config{Name: name, Secret: []byte("editor-benchmark-shared-secret!!")}
}

// The backup process of the benchmarks: a backup bank served over
// kernel/link TCP and its Mux, as between the nodes of a pair, until its
// parent goes.
var roles = proctest.Roles{"backup": proctest.BoundToParent(backupProcess), "echo": proctest.BoundToParent(echoProcess)}

// echoProcess prints "addr A" and echoes what each TCP connection sends:
// the raw round trip the benchmarks compare with.
func echoProcess([]string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("addr %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() { _, _ = io.Copy(c, c) }()
	}
}

func TestHelperProcess(t *testing.T) { os.Exit(proctest.Dispatch(t, os.Stderr, roles)) }

// backupProcess prints "addr A" and serves one primary.
func backupProcess([]string) error {
	ln, err := link.Listen("127.0.0.1:0", benchLinkConfig("backup"))
	if err != nil {
		return err
	}
	fmt.Printf("addr %s\n", ln.Addr())
	_ = stmtest.ServeOne(context.Background(), ln, stm.NewBackup(stm.BackupConfig{}))
	return nil
}

// remoteBank is a bank whose backup is in another process.
func remoteBank(b *testing.B) *stm.Bank {
	bank, _ := countedRemoteBank(b)
	return bank
}

// countedRemoteBank is remoteBank whose mirror counts its round trips to
// the backup process.
func countedRemoteBank(b *testing.B) (*stm.Bank, *countingMirror) {
	line := proctest.Start(b, proctest.Spec{Role: "backup"}).Line()
	var addr string
	if _, err := fmt.Sscanf(line, "addr %s", &addr); err != nil {
		b.Fatalf("backup process said %q", line)
	}
	ctx := context.Background()
	l, err := link.Dial(ctx, addr, benchLinkConfig("primary"))
	if err != nil {
		b.Fatal(err)
	}
	ch, err := stmtest.Channel(l)
	if err != nil {
		b.Fatal(err)
	}
	m := &countingMirror{Mirror: stm.NewRemoteMirror(ch, stm.RemoteConfig{})}
	bank := stm.NewBank(stm.Config{})
	if err := bank.Attach(ctx, m); err != nil {
		b.Fatal(err)
	}
	return bank, m
}

// countingMirror counts the phase 1 and decision round trips a bank makes
// to its backup (the full copy at attach is not counted).
type countingMirror struct {
	stm.Mirror
	trips atomic.Int64
}

func (m *countingMirror) Prepare(ctx context.Context, p *stm.Prepare) error {
	m.trips.Add(1)
	return m.Mirror.Prepare(ctx, p)
}

func (m *countingMirror) Decide(ctx context.Context, d *stm.Decision) error {
	m.trips.Add(1)
	return m.Mirror.Decide(ctx, d)
}

// echoWriter is the terminal: it signals every write.
type echoWriter struct{ c chan struct{} }

func (w echoWriter) Write(p []byte) (int, error) {
	select {
	case w.c <- struct{}{}:
	default:
	}
	return len(p), nil
}

// rig is one editor with its screen server and an attached client.
type rig struct {
	keys   chan []byte
	echo   chan struct{}
	client *screen.Client
	mu     sync.Mutex
	ckpts  []time.Duration
}

// newRig starts the editor on file; bank nil runs it without fault
// tolerance (no store, no checkpoints).
func newRig(b *testing.B, ctx context.Context, bank *stm.Bank, file string) *rig {
	r := &rig{keys: make(chan []byte, 1), echo: make(chan struct{}, 1), client: &screen.Client{}}
	var store screen.Store
	var pages rvm.PageStore
	var fs emacsFiles = osFiles{}
	if bank != nil {
		store, pages = screen.NewBankStore(bank, "bench"), rvm.NewSTMStore(bank)
		fs = Files(ctx, files.New(files.Config{Bank: bank}))
	}
	scr, err := screen.NewServer(ctx, screen.ServerConfig{Width: 80, Height: 24, Store: store})
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		_, _ = task.Run(ctx, task.Config{Name: "editor", Store: pages}, func(ctx context.Context, t *task.Task) error {
			return Run(ctx, t, Config{File: file, Width: 80, Height: 24, Screen: scr, Files: fs, OnCheckpoint: r.noteCheckpoint})
		})
	}()
	a, c := net.Pipe()
	go func() { _ = scr.Serve(ctx, a) }()
	go func() { _ = r.client.Session(ctx, c, r.keys, echoWriter{r.echo}) }()
	<-r.echo // the first redraw
	r.settle()
	return r
}

func (r *rig) noteCheckpoint(d time.Duration) {
	r.mu.Lock()
	r.ckpts = append(r.ckpts, d)
	r.mu.Unlock()
}

// settle waits until every key is acked (checkpointed) and the echoes
// are drained.
func (r *rig) settle() {
	for r.client.Pending() > 0 {
		time.Sleep(20 * time.Microsecond)
	}
	for {
		select {
		case <-r.echo:
		default:
			return
		}
	}
}

// key types k and returns the time until its echo.
func (r *rig) key(k string) time.Duration {
	start := time.Now()
	r.keys <- []byte(k)
	<-r.echo
	return time.Since(start)
}

// script is a typing session: text typed a key at a time, lines opened,
// killed and yanked, motions.
func script() []string {
	var keys []string
	for _, line := range []string{"The quick brown fox jumps over the lazy dog.", "Fault tolerance should cost nothing at all."} {
		for _, c := range line {
			keys = append(keys, string(c))
		}
		keys = append(keys, "\r", "\x10", "\x05", "\x0b", "\x19", "\x0e", "\x01", "\x06", "\x06", "\x7f")
	}
	return append(keys, "\x1b<", "\x16", "\x16", "\x1bv", "\x1b>")
}

type osFiles struct{}

func (osFiles) Open(p string) ([]byte, error) { return os.ReadFile(p) }

func (osFiles) Save(p string, d []byte) error { return files.WriteAtomic(p, d, nil) }

type emacsFiles = interface {
	Open(string) ([]byte, error)
	Save(string, []byte) error
}

func quantile(ds []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[int(q*float64(len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkEditor runs a scripted typing session on two editors in the
// same run, one as a stable task checkpointing into a bank whose backup
// is another process (kernel/link TCP + Mux, as in a pair), one without
// fault tolerance, alternating key by key. It reports the checkpoint
// duration (median, p99: the paper's §6.4 figure is 0.98–1.4 s) and the
// keystroke-to-echo latency of both, paced (the next key after the last
// one's checkpoint: typing slower than a checkpoint) and back-to-back (the
// next key as soon as the echo came), with the ratio ft/noft.
func BenchmarkEditor(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := b.TempDir()
	var text strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&text, "line %d of a file larger than the screen, with some text on it\n", i)
	}
	fileFT, fileNoFT := filepath.Join(dir, "ft.txt"), filepath.Join(dir, "noft.txt")
	for _, f := range []string{fileFT, fileNoFT} {
		if err := os.WriteFile(f, []byte(text.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	ft := newRig(b, ctx, remoteBank(b), fileFT)
	noft := newRig(b, ctx, nil, fileNoFT)
	keys := script()
	var pacedFT, pacedNoFT, rushFT, rushNoFT []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := keys[i%len(keys)]
		pacedFT = append(pacedFT, ft.key(k))
		ft.settle()
		pacedNoFT = append(pacedNoFT, noft.key(k))
		noft.settle()
	}
	for i := 0; i < b.N; i++ { // back to back: no wait for the checkpoint
		k := keys[i%len(keys)]
		rushFT = append(rushFT, ft.key(k))
		rushNoFT = append(rushNoFT, noft.key(k))
	}
	b.StopTimer()
	ft.settle()
	ft.mu.Lock()
	ck := ft.ckpts
	ft.mu.Unlock()
	b.ReportMetric(ms(quantile(ck, 0.5)), "ckpt-median-ms")
	b.ReportMetric(ms(quantile(ck, 0.99)), "ckpt-p99-ms")
	b.ReportMetric(ms(quantile(pacedFT, 0.5)), "echo-ft-median-ms")
	b.ReportMetric(ms(quantile(pacedNoFT, 0.5)), "echo-noft-median-ms")
	b.ReportMetric(float64(quantile(pacedFT, 0.5))/float64(quantile(pacedNoFT, 0.5)), "x-noft")
	b.ReportMetric(float64(quantile(rushFT, 0.5))/float64(quantile(rushNoFT, 0.5)), "x-noft-backtoback")
	b.ReportMetric(ms(quantile(rushFT, 0.5)), "echo-ft-backtoback-median-ms")
	b.ReportMetric(0, "ns/op")
}
