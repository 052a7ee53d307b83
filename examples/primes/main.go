// Command primes runs the paper's prime computation (§6.2, package sieve:
// by default the paper's algorithm, trial division by the primes found so
// far) as a stable task in this process, with its checkpoints committed to an
// STM bank whose backup is in another process (-backup process, the
// default: this program started again as the partner node of a stable
// pair, linked over authenticated TCP on 127.0.0.1), or in this process
// (-backup local), or with no fault tolerance at all (-ft=false), the
// baseline of the overhead figures (BENCH.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/ftm-in-go/ftm/examples/internal/backupproc"
	"github.com/ftm-in-go/ftm/examples/primes/sieve"
	"github.com/ftm-in-go/ftm/internal/failpoint"
	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// secretEnv carries the pair's secret to the backup process.
const secretEnv = "FTM_PRIMES_SECRET"

// options are the command's flags.
type options struct {
	n        int
	policy   string
	every    time.Duration
	percent  int
	ft       bool
	byPrimes bool
	backup   string // "process" or "local"
	wait     bool   // wait for the backup process to hold a copy before computing
	verbose  bool
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 400000, "how many primes to find")
	flag.StringVar(&o.policy, "policy", "pow2", "checkpoint policy: pow2 (every power-of-two pages, like the paper), every, percent, or none")
	flag.DurationVar(&o.every, "every", time.Second, "with -policy every: checkpoint period")
	flag.IntVar(&o.percent, "percent", 1, "with -policy percent: checkpoint every k% of the work")
	flag.BoolVar(&o.byPrimes, "by-primes", true, "divide by the primes found so far (the paper's algorithm: the pages of primes are the data it reads and writes); -by-primes=false divides by every number up to the square root (about 5x slower, less data per unit of work)")
	flag.BoolVar(&o.ft, "ft", true, "run with fault tolerance (checkpoints into STM mirrored to a backup bank); -ft=false is the baseline")
	flag.StringVar(&o.backup, "backup", "process", "where the backup bank is: process (a partner node in another process) or local (this process)")
	flag.BoolVar(&o.wait, "wait-backup", false, "with -backup process: start computing only once the backup holds a copy (default: at once; checkpoints due before are carried into the first one after)")
	flag.BoolVar(&o.verbose, "v", false, "log the pair's events to stderr")
	serve := flag.Bool("serve-backup", false, "internal: be the backup node of a primes process (reads its secret from the environment, exits when stdin closes)")
	flag.Parse()
	var err error
	if *serve {
		err = backupproc.Serve(backupproc.ServeOptions{Secret: os.Getenv(secretEnv), SecretEnv: secretEnv,
			Failpoints: os.Getenv(failpoint.EnvVar), Verbose: o.verbose, Out: os.Stdout, In: os.Stdin})
	} else {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "primes:", err)
		os.Exit(1)
	}
}

func (o options) taskConfig() (task.Config, error) {
	cfg := task.Config{Name: "primes"}
	if o.n < 1 {
		return cfg, errors.New("-n must be at least 1")
	}
	switch o.policy {
	case "pow2":
		cfg.Policy.PowerOfTwo = true
	case "every":
		cfg.Policy.Every = o.every
	case "percent":
		cfg.Policy.Percent = o.percent
	case "none":
	default:
		return cfg, fmt.Errorf("unknown -policy %q (want pow2, every, percent or none)", o.policy)
	}
	if o.backup != "process" && o.backup != "local" {
		return cfg, fmt.Errorf("unknown -backup %q (want process or local)", o.backup)
	}
	return cfg, nil
}

func run(o options) error {
	cfg, err := o.taskConfig()
	if err != nil {
		return err
	}
	start := time.Now()
	ctx := context.Background()
	stop := func() error { return nil }
	if o.ft {
		bank, stopPair, err := o.protectedBank(ctx)
		if err != nil {
			return err
		}
		stop = stopPair
		cfg.Store = rvm.NewSTMStore(bank)
	}
	var nth uint32
	st, err := task.Run(ctx, cfg, func(ctx context.Context, t *task.Task) error {
		var err error
		nth, err = sieve.Compute(ctx, t, o.n, o.byPrimes)
		return err
	})
	if serr := stop(); err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	fmt.Println(sieve.Report(nth, o.n, st))
	where := "none"
	if o.ft {
		where = "backup in " + map[string]string{"process": "another process", "local": "this process"}[o.backup]
	}
	fmt.Printf("elapsed %v (fault tolerance: %s; checkpoints refused before the backup held a copy: %d)\n",
		time.Since(start).Round(time.Millisecond), where, st.Skipped)
	return nil
}

// protectedBank returns a bank whose backup holds a full copy, and what
// stops it.
func (o options) protectedBank(ctx context.Context) (*stm.Bank, func() error, error) {
	if o.backup == "process" {
		self, err := os.Executable()
		if err != nil {
			return nil, nil, err
		}
		return backupproc.Start(ctx, backupproc.Options{Command: []string{self, "-serve-backup", fmt.Sprintf("-v=%v", o.verbose)},
			Env: os.Environ(), SecretEnv: secretEnv, Failpoints: os.Getenv(failpoint.EnvVar), Verbose: o.verbose,
			Stderr: os.Stderr, Wait: o.wait})
	}
	bank := stm.NewBank(stm.Config{})
	if err := bank.Attach(ctx, stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{}))); err != nil {
		return nil, nil, err
	}
	return bank, bank.Close, nil
}
