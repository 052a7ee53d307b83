package sieve

import (
	"context"
	"fmt"
	"strconv"

	"github.com/ftm-in-go/ftm/task"
)

// DefaultN is how many primes the program finds when not told.
const DefaultN = 400000

// MaxN is the most primes the program finds: they fill a 64 MiB segment
// of four-byte slots, and the MaxN-th prime (about 3.1e8) fits one. (A
// larger segment costs its restore at a takeover: at 1<<26, 256 MiB, the
// survivor stalled for seconds, long enough to be declared dead.)
const MaxN = 1 << 24

// Args declares the primes program's arguments, [N]: a node refuses
// "primes abc" before it records or starts anything.
var Args = task.Args{Usage: "[N]", Check: func(args []string) error {
	_, err := ParseN(args)
	return err
}}

// ParseN returns N, how many primes to find, from the program's
// arguments (DefaultN when there are none).
func ParseN(args []string) (int, error) {
	switch len(args) {
	case 0:
		return DefaultN, nil
	case 1:
	default:
		return 0, fmt.Errorf("one argument at most, got %d", len(args))
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return 0, fmt.Errorf("N must be a positive number, got %q", args[0])
	}
	if n > MaxN {
		return 0, fmt.Errorf("N must be at most %d (the primes fill a %d MiB segment), got %d", MaxN, MaxN*4>>20, n)
	}
	return n, nil
}

// Run is the primes program as a node registers it, with Args: it finds
// the first N primes (ParseN) and returns "prime N is P". It runs the
// paper's algorithm (Compute by primes): each candidate is divided by the
// primes found so far, the pages of primes being the data it both reads
// and writes.
func Run(ctx context.Context, t *task.Task, args []string) (string, error) {
	n, err := ParseN(args)
	if err != nil {
		return "", fmt.Errorf("primes: %w", err)
	}
	byPrimes, err := jobMode(ctx, t)
	if err != nil {
		return "", err
	}
	nth, err := Compute(ctx, t, n, byPrimes)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("prime %d is %d", n, nth), nil
}

// jobMode is how Run divides: by the primes found, unless the task
// resumes a job an earlier build began by odd divisors, as its job record
// says (zero in a fresh task). Both modes find the same primes; switching
// mid-job would refuse the checkpoint as another job's.
func jobMode(ctx context.Context, t *task.Task) (byPrimes bool, err error) {
	j, err := task.Object[job](ctx, t, "job")
	if err != nil {
		return false, err
	}
	return j.N == 0 || j.ByPrimes, nil
}
