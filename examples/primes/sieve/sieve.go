package sieve

import (
	"context"
	"errors"
	"fmt"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/task"
)

// progress is the program's progress record, in its own small segment.
type progress struct {
	Count uint64 // primes found
	Next  uint64 // next odd candidate
}

// job is what the program was asked, a stable object in its heap: a
// restored run checks it computes what it was started for.
type job struct {
	N        int64
	ByPrimes bool
}

// primesPerPage is how many four-byte primes fill one 8 KiB page.
const primesPerPage = rvm.DefaultPageSize / 4

// ErrOtherJob is returned when a restored run was started for another
// count or method than the one its checkpoint was taken for.
var ErrOtherJob = errors.New("sieve: the checkpoint is of another job")

// Compute finds the first n primes in t's segments and returns the n-th.
// With byPrimes, candidates are divided by the primes found so far: the
// paper's algorithm, where the pages of primes found are the data the
// program both reads and writes (the node program Run, command primes and
// the benchmarks use it). Otherwise they are divided by every number up to
// their square root, about 4 times slower for the same pages (command
// primes -by-primes=false).
// Its memory is three segments, as in the paper's §6.1: the data (primes
// found), the progress record and the heap (its job, a stable object);
// as a recovery unit each is a unit of its own.
func Compute(ctx context.Context, t *task.Task, n int, byPrimes bool) (uint32, error) {
	primes, p, err := mapSegments(ctx, t, n, byPrimes)
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

// mapSegments maps the program's segments and checks the job in its heap.
func mapSegments(ctx context.Context, t *task.Task, n int, byPrimes bool) ([]uint32, *progress, error) {
	seg, err := t.Segment(ctx, "primes", n*4)
	if err != nil {
		return nil, nil, err
	}
	pseg, err := t.Segment(ctx, "progress", 64)
	if err != nil {
		return nil, nil, err
	}
	p, err := rvm.View[progress](pseg, 0)
	if err != nil {
		return nil, nil, err
	}
	primes, err := rvm.Slice[uint32](seg, 0, n)
	if err != nil {
		return nil, nil, err
	}
	j, err := task.Object[job](ctx, t, "job")
	if err != nil {
		return nil, nil, err
	}
	if t.Restored() {
		if err := checkRestored(primes, p); err != nil {
			return nil, nil, err
		}
	}
	switch {
	case j.N == 0:
		j.N, j.ByPrimes = int64(n), byPrimes
	case j.N != int64(n) || j.ByPrimes != byPrimes:
		return nil, nil, fmt.Errorf("%w: %d primes (by primes: %v), asked %d (%v)", ErrOtherJob, j.N, j.ByPrimes, n, byPrimes)
	}
	return primes, p, nil
}

// ErrInconsistent is returned when restored segments do not hold one
// checkpoint: the primes found and the progress record disagree.
var ErrInconsistent = errors.New("sieve: restored segments disagree")

// checkRestored checks the restored primes and progress record are of one
// checkpoint: the p.Count primes found ascend, and the next candidate is
// above the last of them (a data segment older than the progress record
// leaves zeros; a newer one leaves primes beyond Count).
func checkRestored(primes []uint32, p *progress) error {
	if p.Count == 0 || p.Count > uint64(len(primes)) {
		return nil
	}
	for i := uint64(1); i < p.Count; i++ {
		if primes[i] <= primes[i-1] {
			return fmt.Errorf("%w: prime %d is %d after %d (progress: %d found, next %d)", ErrInconsistent, i, primes[i], primes[i-1], p.Count, p.Next)
		}
	}
	if uint64(primes[p.Count-1]) >= p.Next || (p.Count < uint64(len(primes)) && primes[p.Count] != 0) {
		return fmt.Errorf("%w: %d primes found up to %d, next candidate %d", ErrInconsistent, p.Count, primes[p.Count-1], p.Next)
	}
	return nil
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
