package sieve

import (
	"context"
	"fmt"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/task"
)

// progress is the program's progress record, in its own small segment.
type progress struct {
	Count uint64 // primes found
	Next  uint64 // next odd candidate
}

// primesPerPage is how many four-byte primes fill one 8 KiB page.
const primesPerPage = rvm.DefaultPageSize / 4

// Compute finds the first n primes in t's segments and returns the n-th.
// With byPrimes, candidates are divided by the primes found so far;
// otherwise by every number up to their square root, which is slower
// and sizes the default run at a few seconds, so overheads are measurable.
func Compute(ctx context.Context, t *task.Task, n int, byPrimes bool) (uint32, error) {
	seg, err := t.Segment(ctx, "primes", n*4)
	if err != nil {
		return 0, err
	}
	pseg, err := t.Segment(ctx, "progress", 64)
	if err != nil {
		return 0, err
	}
	p, err := rvm.View[progress](pseg, 0)
	if err != nil {
		return 0, err
	}
	primes, err := rvm.Slice[uint32](seg, 0, n)
	if err != nil {
		return 0, err
	}
	if p.Count == 0 {
		primes[0], p.Count, p.Next = 2, 1, 3
	}
	totalPages := int64((n + primesPerPage - 1) / primesPerPage)
	for int(p.Count) < n {
		if (byPrimes && isPrime(p.Next, primes[:p.Count])) || (!byPrimes && isPrimeOdd(p.Next)) {
			primes[p.Count] = uint32(p.Next)
			p.Count++
			if p.Count%primesPerPage == 0 { // a page of primes produced
				t.Progress(int64(p.Count/primesPerPage), totalPages)
				if err := ctx.Err(); err != nil {
					return 0, err
				}
			}
		}
		p.Next += 2
		if err := t.Poll(ctx); err != nil {
			return 0, err
		}
	}
	return primes[n-1], nil
}

// isPrime tries the odd primes found so far up to the square root of c.
func isPrime(c uint64, found []uint32) bool {
	for _, q := range found[1:] {
		q := uint64(q)
		if q*q > c {
			return true
		}
		if c%q == 0 {
			return false
		}
	}
	return true
}

// isPrimeOdd tries every number from 2 up to the square root of c: the
// textbook trial division.
func isPrimeOdd(c uint64) bool {
	for q := uint64(2); q*q <= c; q++ {
		if c%q == 0 {
			return false
		}
	}
	return true
}

// Report is what the program prints at the end.
func Report(nth uint32, n int, st task.Stats) string {
	return fmt.Sprintf("prime %d is %d\ncheckpoints %d, pages saved %d (%d KiB), time stopped %v, resumed from a checkpoint: %v",
		n, nth, st.Checkpoints, st.PagesSaved, st.BytesSaved>>10, st.TimeStopped, st.Restored)
}
