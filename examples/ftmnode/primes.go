package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/ftm-in-go/ftm/examples/primes/sieve"
	"github.com/ftm-in-go/ftm/task"
)

// runPrimes: primes [N] — the paper's prime computation.
func runPrimes(ctx context.Context, t *task.Task, args []string) (string, error) {
	n := 400000
	if len(args) > 0 {
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 1 {
			return "", fmt.Errorf("primes: N must be a positive number, got %q", args[0])
		}
		n = v
	}
	nth, err := sieve.Compute(ctx, t, n, false)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("prime %d is %d", n, nth), nil
}
