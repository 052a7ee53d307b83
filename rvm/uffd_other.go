//go:build !linux

package rvm

import "fmt"

// writeTracker exists only on Linux; elsewhere segments compare.
type writeTracker struct{}

func newWriteTracker([]byte) (*writeTracker, error) {
	return nil, fmt.Errorf("%w: not Linux", ErrNoWriteTracking)
}

func (*writeTracker) scan(func(off, n int), bool) (int, error) { return 0, ErrNoWriteTracking }
func (*writeTracker) close()                                   {}
