package pager

import (
	"sync"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
)

// oneCrash crashes unit at the n-th time point is reached.
type oneCrash struct {
	mu          sync.Mutex
	point, unit string
	n, seen     int
	hit         chan struct{} // closed when it fires (may be nil)
}

func (f *oneCrash) fail(point, unit string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if point != f.point || unit != f.unit {
		return nil
	}
	f.seen++
	if f.seen == f.n && f.hit != nil {
		close(f.hit)
	}
	if f.seen == f.n {
		return failpoint.ErrCrash
	}
	return nil
}

func (f *oneCrash) fired() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen >= f.n
}
