// Command primes runs the paper's prime computation (§6.2, package sieve)
// as a stable task in this process, with its checkpoints mirrored to an
// in-process backup bank, or with no fault tolerance (-ft=false) as the
// baseline.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/ftm-in-go/ftm/examples/primes/sieve"
	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/servers/task"
	"github.com/ftm-in-go/ftm/stm"
)

func main() {
	n := flag.Int("n", 400000, "how many primes to find")
	policy := flag.String("policy", "pow2", "checkpoint policy: pow2 (every power-of-two pages, like the paper), every, percent, or none")
	every := flag.Duration("every", time.Second, "with -policy every: checkpoint period")
	percent := flag.Int("percent", 1, "with -policy percent: checkpoint every k% of the work")
	byPrimes := flag.Bool("by-primes", false, "divide by the primes found so far (fast) instead of by every number up to the square root")
	ft := flag.Bool("ft", true, "run with fault tolerance (checkpoints into STM mirrored to a backup bank); -ft=false is the baseline")
	flag.Parse()
	if err := run(*n, *policy, *every, *percent, *ft, *byPrimes); err != nil {
		fmt.Fprintln(os.Stderr, "primes:", err)
		os.Exit(1)
	}
}

func run(n int, policy string, every time.Duration, percent int, ft, byPrimes bool) error {
	if n < 1 {
		return fmt.Errorf("-n must be at least 1")
	}
	cfg := task.Config{Name: "primes"}
	switch policy {
	case "pow2":
		cfg.Policy.PowerOfTwo = true
	case "every":
		cfg.Policy.Every = every
	case "percent":
		cfg.Policy.Percent = percent
	case "none":
	default:
		return fmt.Errorf("unknown -policy %q (want pow2, every, percent or none)", policy)
	}
	ctx := context.Background()
	if ft {
		bank := stm.NewBank(stm.Config{})
		if err := bank.Attach(ctx, stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{}))); err != nil {
			return err
		}
		cfg.Store = rvm.NewSTMStore(bank)
	}
	start := time.Now()
	var nth uint32
	st, err := task.Run(ctx, cfg, func(ctx context.Context, t *task.Task) error {
		var err error
		nth, err = sieve.Compute(ctx, t, n, byPrimes)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Println(sieve.Report(nth, n, st))
	fmt.Printf("elapsed %v (fault tolerance %v)\n", time.Since(start).Round(time.Millisecond), ft)
	return nil
}
