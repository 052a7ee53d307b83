// Command mp3d runs the paper's second scientific program (§6.3, package
// sim: a rarefied-gas simulation in the manner of SPLASH mp3d) as a
// stable task in this process, checkpointed a given number of times per
// run into an STM bank mirrored to a backup bank in this process, or with
// no fault tolerance at all (-ft=false), the baseline of the overhead
// figures (docs/benchmarks.md). A node runs the same program as a stable
// task on a pair: `ftmctl run mp3d [MOLECULES [STEPS [SEED]]]`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/ftm-in-go/ftm/examples/mp3d/sim"
	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// options are the command's flags.
type options struct {
	job         sim.Job
	checkpoints int
	ft          bool
}

func main() {
	var o options
	flag.Int64Var(&o.job.Molecules, "molecules", sim.DefaultMolecules, "how many molecules")
	flag.Int64Var(&o.job.Steps, "steps", sim.DefaultSteps, "how many time steps")
	flag.Uint64Var(&o.job.Seed, "seed", sim.DefaultSeed, "seed of the random source")
	flag.IntVar(&o.checkpoints, "checkpoints", 5, "checkpoints per run, one every steps/checkpoints steps (a divisor of 100)")
	flag.BoolVar(&o.ft, "ft", true, "run with fault tolerance (checkpoints into STM mirrored to a backup bank); -ft=false is the baseline")
	flag.Parse()
	if err := run(o); err != nil {
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
	if o.ft {
		bank := stm.NewBank(stm.Config{})
		defer bank.Close()
		if err := bank.Attach(context.Background(), stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{}))); err != nil {
			return err
		}
		cfg.Store = rvm.NewSTMStore(bank)
	}
	var r sim.Result
	st, err := task.Run(context.Background(), cfg, func(ctx context.Context, t *task.Task) error {
		r, err = sim.Compute(ctx, t, o.job)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Println(sim.Report(o.job, r))
	fmt.Printf("checkpoints %d, pages saved %d (%d KiB), time stopped %v\n",
		st.Checkpoints, st.PagesSaved, st.BytesSaved>>10, st.TimeStopped)
	fmt.Printf("elapsed %v (fault tolerance: %v)\n", time.Since(start).Round(time.Millisecond), o.ft)
	return nil
}
