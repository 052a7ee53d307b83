// Package savings is a stable program: it compounds a deposit month by
// month and keeps its progress in a segment, which the node checkpoints
// and restores on the partner after a crash.
package savings

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/task"
)

// Args declares the program's arguments: `ftmctl run savings` refuses
// others at once, before anything starts.
var Args = task.Args{Usage: "CENTS RATE MONTHS", Check: func(args []string) error {
	_, err := parse(args)
	return err
}}

// SimulatedMonth is how long a month of the plan takes: a stand-in for
// real work, so that there is time to crash the node while the program
// runs.
const SimulatedMonth = 100 * time.Millisecond

// plan is what the program was asked: CENTS at RATE percent a year for
// MONTHS months.
type plan struct{ cents, rate, months int64 }

func parse(args []string) (plan, error) {
	if len(args) != 3 {
		return plan{}, fmt.Errorf("want 3 arguments, got %d", len(args))
	}
	var v [3]int64
	for i, a := range args {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			return plan{}, fmt.Errorf("%q is not a whole number", a)
		}
		v[i] = n
	}
	return plan{cents: v[0], rate: v[1], months: v[2]}, nil
}

// progress is everything the program must not lose: plain values, kept
// in a segment.
type progress struct {
	Month int64 // months done
	Cents int64 // the balance after them
}

// Run is the program as the node registers it.
func Run(ctx context.Context, t *task.Task, args []string) (string, error) {
	p, err := parse(args)
	if err != nil {
		return "", err
	}
	seg, err := t.Segment(ctx, "progress", 64) // restored, if it was checkpointed
	if err != nil {
		return "", err
	}
	st, err := rvm.View[progress](seg, 0)
	if err != nil {
		return "", err
	}
	if st.Month == 0 {
		st.Cents = p.cents
	}
	began := st.Month // 0, or where the last checkpoint left off
	for st.Month < p.months {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(SimulatedMonth):
		}
		st.Cents += st.Cents * p.rate / 1200
		st.Month++
		t.Progress(st.Month, p.months)
		if err := t.Poll(ctx); err != nil { // a safe point: checkpoints happen here
			return "", err
		}
	}
	return fmt.Sprintf("%d cents after %d months (this run began at month %d)", st.Cents, st.Month, began), nil
}
