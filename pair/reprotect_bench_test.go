package pair

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/stm"
)

// BenchmarkReprotect measures the re-protection of a bank onto a new
// backup, as a cluster member does it (stm Bank.Attach over the
// authenticated loopback TCP link and its Mux channel): the full copy's
// duration (ms/copy), and the latency of small commits made while the copy
// runs against the same commits made on the mirrored bank with no copy
// under way, measured in the same run (the baseline). Reported: median
// commit latency with and without a copy (us/commit-copy, us/commit), and
// their ratio x-normal (target ≤ 2); p99 as x-normal-p99. Each iteration
// attaches a fresh backup over a fresh link.
func BenchmarkReprotect(b *testing.B) {
	for _, size := range []struct {
		name  string
		bytes int
	}{{"1MiB", 1 << 20}, {"64MiB", 64 << 20}} {
		b.Run(size.name, func(b *testing.B) { benchReprotect(b, size.bytes, true) })
		b.Run(size.name+"/unpaced", func(b *testing.B) { benchReprotect(b, size.bytes, false) })
	}
}

func benchReprotect(b *testing.B, size int, paced bool) {
	bank := stm.NewBank(stm.Config{})
	defer bank.Close()
	if err := bank.Attach(context.Background(), benchBackupMirror(b)); err != nil {
		b.Fatal(err)
	}
	fillBank(b, bank, size)
	var copyTime time.Duration
	var during, normal []time.Duration
	b.ResetTimer()
	for range b.N {
		var m stm.Mirror = benchBackupMirror(b)
		if paced {
			m = newPacedMirror(m)
		}
		d, lat := attachWhileCommitting(b, bank, m)
		copyTime += d
		during = append(during, lat...)
		normal = append(normal, commitLatencies(b, bank, max(len(lat), 50))...)
	}
	b.StopTimer()
	b.ReportMetric(float64(copyTime.Milliseconds())/float64(b.N), "ms/copy")
	med, medN := quantile(during, 0.5), quantile(normal, 0.5)
	b.ReportMetric(float64(med.Microseconds()), "us/commit-copy")
	b.ReportMetric(float64(medN.Microseconds()), "us/commit")
	b.ReportMetric(float64(med)/float64(medN), "x-normal")
	b.ReportMetric(float64(quantile(during, 0.99))/float64(quantile(normal, 0.99)), "x-normal-p99")
}

// attachWhileCommitting attaches m to bank while a goroutine commits small
// transactions one after the other; it returns the attach's duration and
// the latencies of the commits that ran during it.
func attachWhileCommitting(b *testing.B, bank *stm.Bank, m stm.Mirror) (time.Duration, []time.Duration) {
	var stop atomic.Bool
	var lat []time.Duration
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			lat = append(lat, commitLatencies(b, bank, 1)...)
		}
	}()
	start := time.Now()
	err := bank.Attach(context.Background(), m)
	d := time.Since(start)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		b.Fatal(err)
	}
	return d, lat
}

// commitLatencies commits n small transactions and returns their latencies.
func commitLatencies(b *testing.B, bank *stm.Bank, n int) []time.Duration {
	out := make([]time.Duration, 0, n)
	v := bytes.Repeat([]byte("c"), 100)
	for i := range n {
		t0 := time.Now()
		err := bank.Update(context.Background(), func(tx *stm.Tx) error { return tx.Put(stm.ID(1+i%64), v) })
		if err != nil {
			b.Error(err)
			return out
		}
		out = append(out, time.Since(t0))
	}
	return out
}

// fillBank commits objects of 4 KiB (a page) until bank holds size bytes.
func fillBank(b *testing.B, bank *stm.Bank, size int) {
	v := bytes.Repeat([]byte("x"), 4<<10)
	for i := 0; i*len(v) < size; i++ {
		if err := bank.Update(context.Background(), func(tx *stm.Tx) error { return tx.Put(stm.ID(1000+i), v) }); err != nil {
			b.Fatal(err)
		}
	}
}

// benchBackupMirror serves a fresh backup on a loopback TCP link (the
// node's authenticated link and Mux) and returns the mirror to it; both
// end when the benchmark does.
func benchBackupMirror(b *testing.B) stm.Mirror {
	cfg := func(name string) link.Config {
		return link.Config{Name: name, Secret: []byte("reprotect-benchmark-shared-secret")}
	}
	ln, err := link.Listen("127.0.0.1:0", cfg("backup"))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		ch, err := link.NewMux(l, nil).Channel(link.ServiceSTM)
		if err == nil {
			_ = stm.ServeBackup(ctx, ch, stm.NewBackup(stm.BackupConfig{}))
		}
		_ = l.Close()
	}()
	l, err := link.Dial(ctx, ln.Addr(), cfg("primary"))
	if err != nil {
		b.Fatal(err)
	}
	ch, err := link.NewMux(l, nil).Channel(link.ServiceSTM)
	if err != nil {
		b.Fatal(err)
	}
	m := stm.NewRemoteMirror(ch, stm.RemoteConfig{})
	b.Cleanup(func() { _ = m.Close(); _ = l.Close(); cancel(); _ = ln.Close(); <-done })
	return m
}

// quantile returns the q-quantile of ds (0 for none).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
