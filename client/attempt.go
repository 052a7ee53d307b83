package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ftm-in-go/ftm/node/control"
)

// A call's attempts do not wait long: the survivor of a pair takes a
// dead node's banks over within tens of milliseconds of a kill, and within
// about a second of a silent loss, so an attempt on a node that does not
// answer ends after Config.AttemptTimeout, pauses between attempts stay
// under maxBackoff, and a node that did not answer (no connection, or no
// reply in time) is passed over for downFor while its partner answers at
// all, even with "not reachable yet": the call then waits on the node
// that will hold the bank, not on the lost one.
const (
	defaultAttemptTimeout = 500 * time.Millisecond
	maxBackoff            = 100 * time.Millisecond
	downFor               = 2 * time.Second
)

// attempt posts body to node i, bounded by the attempt timeout; a node
// that does not answer is marked down.
func (c *Conn) attempt(ctx context.Context, i int, body []byte) (*control.CallReply, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	rep, err := c.nodes[i].post(actx, body)
	var again *retryable
	silent := errors.As(err, &again) && ctx.Err() == nil && (actx.Err() != nil || errors.Is(err, errNotAnswering))
	c.mu.Lock()
	if c.down == nil {
		c.down = map[int]time.Time{}
	}
	if silent {
		c.down[i] = time.Now().Add(downFor)
	} else {
		delete(c.down, i) // it answered
	}
	c.mu.Unlock()
	if silent && actx.Err() != nil {
		err = &retryable{fmt.Errorf("node %s: no answer within %v: %w", c.nodes[i].name, c.cfg.AttemptTimeout, err)}
	}
	return rep, err
}

// next is the node to try after node i: the next one that is not passed
// over; node i again if it answered and every other one is passed over;
// else simply the next one.
func (c *Conn) next(i int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	passed := func(j int) bool { until, ok := c.down[j]; return ok && now.Before(until) }
	for k := 1; k < len(c.nodes); k++ {
		if j := (i + k) % len(c.nodes); !passed(j) {
			return j
		}
	}
	if !passed(i) {
		return i
	}
	return (i + 1) % len(c.nodes)
}
