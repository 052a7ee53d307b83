// Package parallel splits a loop over [0, n) among the CPUs when it is long
// enough to pay for the goroutines: STM copies and checksums a checkpoint's
// pages with it, RVM sums them.
//
// Invariant: fn is called on disjoint ranges covering [0, n) exactly once
// each, and For returns only when every call has returned.
package parallel

import (
	"runtime"
	"sync"
)

// For runs fn over [0, n), split among up to GOMAXPROCS goroutines with at
// least minShare items each (one call, on the caller's goroutine, when n is
// shorter than two shares).
func For(n, minShare int, fn func(lo, hi int)) {
	w := min(runtime.GOMAXPROCS(0), n/max(minShare, 1))
	if w <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for k := 1; k < w; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(k*n/w, (k+1)*n/w)
		}()
	}
	fn(0, n/w)
	wg.Wait()
}
