package servers

import (
	"context"
	"time"
)

// Deadlines cross the call path (the survey's Amoeba EXCEPTION, §3.2.1,
// reduced to what a deadline can say): a request carries the time left
// to its caller's deadline, and the server runs the handler under a
// context that ends when that time has passed. A nested call made with
// the handler's context carries what is left of it again, so the
// deadline of the outermost client bounds the whole tree of calls. The
// time travels relative, so the nodes' clocks need not agree; it is
// measured again at every attempt. A client's per-attempt timeout is not
// sent: a slow handler is not cut short by it (its retry is answered from
// the duplicate table).

// timeLeft is the time until ctx's deadline, for a request (0: none). A
// deadline already passed gives the smallest positive time, so the
// handler's context ends at once.
func timeLeft(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return max(time.Until(dl), time.Nanosecond)
}
