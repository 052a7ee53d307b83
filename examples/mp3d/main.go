// Command mp3d runs the paper's second scientific program (§6.3, package
// sim: a rarefied-gas simulation in the manner of SPLASH mp3d) as a
// stable task in this process, checkpointed a given number of times per
// run into an STM bank whose backup is in another process (-backup
// process, the default: this program started again as the partner node
// of a stable pair, linked over authenticated TCP on 127.0.0.1, package
// examples/internal/backupproc) or in this process (-backup local), or
// with no fault tolerance at all (-ft=false), the baseline of the overhead
// figures (docs/benchmarks.md). A node runs the same program as a stable
// task on a pair: `ftmctl run mp3d [MOLECULES [STEPS [SEED]]]`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/ftm-in-go/ftm/examples/internal/backupproc"
	"github.com/ftm-in-go/ftm/examples/mp3d/sim"
	"github.com/ftm-in-go/ftm/internal/failpoint"
	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// secretEnv carries the pair's secret to the backup process.
const secretEnv = "FTM_MP3D_SECRET"

// options are the command's flags.
type options struct {
	job         sim.Job
	checkpoints int
	ft          bool
	backup      string // "process" or "local"
	wait        bool   // wait for the backup process to hold a copy before computing
}

func main() {
	var o options
	flag.Int64Var(&o.job.Molecules, "molecules", sim.DefaultMolecules, "how many molecules")
	flag.Int64Var(&o.job.Steps, "steps", sim.DefaultSteps, "how many time steps")
	flag.Uint64Var(&o.job.Seed, "seed", sim.DefaultSeed, "seed of the random source")
	flag.IntVar(&o.checkpoints, "checkpoints", 5, "checkpoints per run, one every steps/checkpoints steps (a divisor of 100)")
	flag.BoolVar(&o.ft, "ft", true, "run with fault tolerance (checkpoints into STM mirrored to a backup bank); -ft=false is the baseline")
	flag.StringVar(&o.backup, "backup", "process", "where the backup bank is: process (a partner node in another process) or local (this process)")
	flag.BoolVar(&o.wait, "wait-backup", false, "with -backup process: start computing only once the backup holds a copy (default: at once; checkpoints due before are refused and carried into the first one after)")
	serve := flag.Bool("serve-backup", false, "internal: be the backup node of an mp3d process (reads its secret from the environment, exits when stdin closes)")
	flag.Parse()
	var err error
	if *serve {
		err = backupproc.Serve(backupproc.ServeOptions{Secret: os.Getenv(secretEnv), SecretEnv: secretEnv,
			Failpoints: os.Getenv(failpoint.EnvVar), Out: os.Stdout, In: os.Stdin})
	} else {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mp3d:", err)
		os.Exit(1)
	}
}

// policy is the checkpoint policy giving n checkpoints per run.
func policy(n int) (task.Policy, error) {
	if n < 1 || n > 100 || 100%n != 0 {
		return task.Policy{}, fmt.Errorf("-checkpoints must divide 100, got %d", n)
	}
	return task.Policy{Percent: 100 / n}, nil
}

func run(o options) error {
	pol, err := policy(o.checkpoints)
	if err != nil {
		return err
	}
	start := time.Now()
	cfg := task.Config{Name: "mp3d", Policy: pol}
	stop := func() error { return nil }
	if o.ft {
		bank, stopBank, err := o.protectedBank(context.Background())
		if err != nil {
			return err
		}
		cfg.Store, stop = rvm.NewSTMStore(bank), stopBank
	}
	var r sim.Result
	st, err := task.Run(context.Background(), cfg, func(ctx context.Context, t *task.Task) error {
		var err error
		r, err = sim.Compute(ctx, t, o.job)
		return err
	})
	if serr := stop(); err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	fmt.Println(sim.Report(o.job, r))
	fmt.Printf("checkpoints %d, pages saved %d (%d KiB), time stopped %v\n",
		st.Checkpoints, st.PagesSaved, st.BytesSaved>>10, st.TimeStopped)
	where := "none"
	if o.ft {
		where = "backup in " + map[string]string{"process": "another process", "local": "this process"}[o.backup]
	}
	fmt.Printf("elapsed %v (fault tolerance: %s; checkpoints refused before the backup held a copy: %d)\n",
		time.Since(start).Round(time.Millisecond), where, st.Skipped)
	return nil
}

// protectedBank returns a bank with a backup and what stops it.
func (o options) protectedBank(ctx context.Context) (*stm.Bank, func() error, error) {
	switch o.backup {
	case "process":
		self, err := os.Executable()
		if err != nil {
			return nil, nil, err
		}
		return backupproc.Start(ctx, backupproc.Options{Command: []string{self, "-serve-backup"}, Env: os.Environ(),
			SecretEnv: secretEnv, Failpoints: os.Getenv(failpoint.EnvVar), Stderr: os.Stderr, Wait: o.wait})
	case "local":
		bank := stm.NewBank(stm.Config{})
		if err := bank.Attach(ctx, stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{}))); err != nil {
			return nil, nil, err
		}
		return bank, bank.Close, nil
	}
	return nil, nil, fmt.Errorf("unknown -backup %q (want process or local)", o.backup)
}
