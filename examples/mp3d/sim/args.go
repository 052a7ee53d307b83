package sim

import (
	"context"
	"fmt"
	"strconv"

	"github.com/ftm-in-go/ftm/task"
)

// Defaults and limits of the program's arguments.
const (
	DefaultMolecules = 10000
	DefaultSteps     = 300
	DefaultSeed      = 1
	MaxMolecules     = 1 << 20
	MaxSteps         = 1 << 20
)

// Args declares the mp3d program's arguments, [MOLECULES [STEPS [SEED]]]:
// a node refuses "mp3d abc" before it records or starts anything.
var Args = task.Args{Usage: "[MOLECULES [STEPS [SEED]]]", Check: func(args []string) error {
	_, err := ParseJob(args)
	return err
}}

// ParseJob returns the job the program's arguments ask for (the defaults
// for those not given).
func ParseJob(args []string) (Job, error) {
	job := Job{Molecules: DefaultMolecules, Steps: DefaultSteps, Seed: DefaultSeed}
	if len(args) > 3 {
		return job, fmt.Errorf("three arguments at most, got %d", len(args))
	}
	fields := []struct {
		name string
		max  int64
		dst  *int64
	}{{"MOLECULES", MaxMolecules, &job.Molecules}, {"STEPS", MaxSteps, &job.Steps}}
	for i, a := range args {
		if i == 2 {
			seed, err := strconv.ParseUint(a, 10, 64)
			if err != nil {
				return job, fmt.Errorf("SEED must be a number, got %q", a)
			}
			job.Seed = seed
			continue
		}
		v, err := strconv.ParseInt(a, 10, 64)
		if err != nil || v < 1 || v > fields[i].max {
			return job, fmt.Errorf("%s must be a number from 1 to %d, got %q", fields[i].name, fields[i].max, a)
		}
		*fields[i].dst = v
	}
	return job, nil
}

// Run is the mp3d program as a node registers it, with Args: it runs the
// job the arguments ask for and returns its result line.
func Run(ctx context.Context, t *task.Task, args []string) (string, error) {
	job, err := ParseJob(args)
	if err != nil {
		return "", fmt.Errorf("mp3d: %w", err)
	}
	r, err := Compute(ctx, t, job)
	if err != nil {
		return "", err
	}
	return Report(job, r), nil
}

// Report is the result line of job.
func Report(job Job, r Result) string {
	return fmt.Sprintf("mp3d %d molecules, %d steps, seed %d: %v", job.Molecules, job.Steps, job.Seed, r)
}
