package task

import (
	"context"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/rvm"
)

// BenchmarkPollNothingDue: the cost of a safe point when no checkpoint is
// due, the case of almost every Poll of a program that polls in its
// innermost loop (the sieve: once per candidate, 2.9 million times), with
// work-based and time-based policies armed; against ctx.Err(), the check
// such a loop makes anyway, in the same run.
func BenchmarkPollNothingDue(b *testing.B) {
	ctx := context.Background()
	var base float64 // ns per ctx.Err()
	b.Run("ctx.Err", func(b *testing.B) {
		start := time.Now()
		for i := 0; i < b.N; i++ {
			if ctx.Err() != nil {
				b.Fatal("cancelled")
			}
		}
		base = float64(time.Since(start).Nanoseconds()) / float64(b.N)
	})
	b.Run("Poll", func(b *testing.B) {
		_, err := Run(ctx, Config{Name: "b", Store: rvm.NewMemStore(), Policy: Policy{Percent: 1, PowerOfTwo: true, Every: time.Hour}},
			func(ctx context.Context, t *Task) error {
				t.Progress(1, 1000)
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					if err := t.Poll(ctx); err != nil {
						return err
					}
				}
				per := float64(time.Since(start).Nanoseconds()) / float64(b.N)
				if base > 0 {
					b.ReportMetric(per/base, "x-ctx.Err")
				}
				return nil
			})
		if err != nil {
			b.Fatal(err)
		}
	})
}
