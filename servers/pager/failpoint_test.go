package pager

import "sync"

// oneCrash crashes unit at the n-th time point is reached.
type oneCrash struct {
	mu          sync.Mutex
	point, unit string
	n, seen     int
	hit         chan struct{} // closed when it fires (may be nil)
}

func (f *oneCrash) fail(point, unit string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if point != f.point || unit != f.unit {
		return false
	}
	f.seen++
	if f.seen == f.n && f.hit != nil {
		close(f.hit)
	}
	return f.seen == f.n
}

func (f *oneCrash) fired() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen >= f.n
}
