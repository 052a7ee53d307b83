package cluster

import (
	"context"
	"errors"
)

// Consensus is the seam between the lease logic and the agreement engine:
// an ordered log of Commands applied to a State on every member. Propose
// returns once the command is committed by a majority and applied, with
// the Result of applying it; it may be called on any member (a follower
// forwards it to the leader). State is this member's applied state, which
// may lag the leader's.
type Consensus interface {
	Propose(ctx context.Context, c Command) (Result, error)
	State() State
	// Leader names the member this one believes leads ("" when unknown).
	Leader() string
	Close() error
}

// Errors.
var (
	// ErrNoQuorum: the command could not be committed (no leader, or this
	// member cannot reach a majority).
	ErrNoQuorum = errors.New("cluster: no majority reached")
	// ErrRefused: the command was committed but its condition did not hold.
	ErrRefused = errors.New("cluster: command refused")
	// ErrCorrupt: a command or a forwarded message did not decode.
	ErrCorrupt = errors.New("cluster: corrupt message")
	// ErrConfig: an unusable configuration.
	ErrConfig = errors.New("cluster: bad configuration")
	// ErrClosed: the member was closed.
	ErrClosed = errors.New("cluster: closed")
)
