package failpoint

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Hook is consulted at a named step. point names the step
// ("stm.phase1.shipped", "servers.after-precommit"); subject names what
// stands at the step when a component has several (a recovery unit, a
// file), "" otherwise. A non-nil error crashes the component there.
type Hook func(point, subject string) error

// ErrCrash is the error test hooks return to crash a component at a point.
var ErrCrash = errors.New("failpoint: crash")

// At runs h at point for subject; a nil hook never fires.
func (h Hook) At(point, subject string) error {
	if h == nil {
		return nil
	}
	if err := h(point, subject); err != nil {
		return fmt.Errorf("failpoint %s: %w", point, err)
	}
	return nil
}

// Fires reports whether h crashes at point for subject.
func (h Hook) Fires(point, subject string) bool { return h.At(point, subject) != nil }

// Chain returns a hook that runs each non-nil hook in order and returns the
// first error.
func Chain(hs ...Hook) Hook {
	return func(point, subject string) error {
		for _, h := range hs {
			if h == nil {
				continue
			}
			if err := h(point, subject); err != nil {
				return err
			}
		}
		return nil
	}
}

// Once returns a hook, safe for concurrent use, that crashes the first time
// point is reached (for any subject when subject is "", else for that
// subject only) and never again: the usual shape of a crash test.
func Once(point, subject string) Hook { return Nth(point, subject, 1) }

// Nth returns a hook, safe for concurrent use, that crashes the n-th time
// point is reached (counting as Once does) and never again; n < 1 never
// fires.
func Nth(point, subject string, n int) Hook {
	var hits atomic.Int64
	return func(p, s string) error {
		if p != point || (subject != "" && s != subject) {
			return nil
		}
		if hits.Add(1) == int64(n) {
			return ErrCrash
		}
		return nil
	}
}
