package stm

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// maxUpdateTries bounds UpdateRetry's attempts.
const maxUpdateTries = 32

// UpdateRetry runs Update and runs it again, after a short random pause,
// when it failed with ErrConflict: for short transactions that meet others
// on shared objects (a directory, a table), where a conflict only means
// "try again". fn may run several times and must have no other effect than
// on its transaction. It gives up after a bounded number of attempts, with
// the last error, or when ctx ends.
func (b *Bank) UpdateRetry(ctx context.Context, fn func(tx *Tx) error) error {
	for try := 0; ; try++ {
		err := b.Update(ctx, fn)
		if err == nil || !errors.Is(err, ErrConflict) || try+1 == maxUpdateTries || backOff(ctx, try) != nil {
			return err
		}
	}
}

// backOff waits before attempt try+2: a random time up to 20µs·2^try (at
// most about 10 ms), so transactions contending for one object spread out.
func backOff(ctx context.Context, try int) error {
	d := time.Duration(rand.Int64N(int64(20*time.Microsecond) << min(try, 9)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
