package publish

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ftm-in-go/ftm/kernel"
)

// Machine is a published program: its behaviour depends only on the
// messages it handles (publishing.txt §2.1: processes are deterministic
// between interactions). It reads time and randomness only from its Env,
// starts no goroutine that touches its state, and keeps nothing outside
// what Snapshot returns.
type Machine interface {
	// Handle processes one received message. It sends only through env.
	// An error ends the task (a deterministic failure, not recovered); a
	// panic is a crash, recovered from the last checkpoint.
	Handle(env *Env, m *kernel.Message) error
	// Snapshot returns the machine's whole state, for a checkpoint.
	Snapshot() ([]byte, error)
	// Restore sets the state Snapshot returned (nil: the initial state).
	Restore(state []byte) error
}

// Env is what a published task may use while it handles one message: its
// outputs go through Send and Reply (numbered, and discarded while a
// recovering task re-sends what it had sent before its crash), and its
// clock and random source are functions of the message, so a replay sees
// the same ones.
type Env struct {
	ctx  context.Context
	p    *Published
	e    *Entry
	rng  *rand.Rand
	live bool
	tell func(to string, m *kernel.Message) // set inside a group
}

// Context is the task's context (ended when the task is stopped).
func (env *Env) Context() context.Context { return env.ctx }

// Now is the time the current message was received: the same in a replay.
func (env *Env) Now() time.Time { return time.Unix(0, env.e.At) }

// Rand is a random source seeded from the task's seed and the message's
// log index: the same in a replay.
func (env *Env) Rand() *rand.Rand {
	if env.rng == nil {
		env.rng = rand.New(rand.NewPCG(env.p.spec.Seed, env.e.Index))
	}
	return env.rng
}

// Index is the current message's position in the task's receive order.
func (env *Env) Index() uint64 { return env.e.Index }

// Replaying reports whether the message is being replayed from the log.
func (env *Env) Replaying() bool { return !env.live }

// Peer is the task's send right to the peer named key (Spec.Connect).
func (env *Env) Peer(key string) kernel.Name { return env.p.peers.name(key) }

// peerNames gives a task's peers their names.
type peerNames interface{ name(key string) kernel.Name }

// connected are the names Spec.Connect gave.
type connected map[string]kernel.Name

func (c connected) name(key string) kernel.Name { return c[key] }

// key is the peer key of the right n (false: n is no peer's).
func (c connected) key(n kernel.Name) (string, bool) {
	for k, v := range c {
		if v == n {
			return k, true
		}
	}
	return "", false
}

// offlinePeers names peers 1, 2, ... as they are first asked for.
type offlinePeers map[string]kernel.Name

func (o offlinePeers) name(key string) kernel.Name {
	if n, ok := o[key]; ok {
		return n
	}
	o[key] = kernel.Name(len(o) + 1)
	return o[key]
}

// Tell gives m to the member named to of the task's group (GroupSpec),
// after the current member's Handle returns: not sent through the kernel,
// not recorded, not numbered. Outside a group it reports ErrBadSpec.
func (env *Env) Tell(to string, m *kernel.Message) error {
	if env.tell == nil {
		return fmt.Errorf("%w: Tell outside a group", ErrBadSpec)
	}
	env.tell(to, m)
	return nil
}

// Send sends m (m.Dest names a right in the task's space) as the task's
// next numbered message. While the task recovers, a number it had already
// sent before its crash is not sent again: Send drops m and returns nil.
func (env *Env) Send(m *kernel.Message) error { return env.p.send(env.ctx, m) }

// Reply sends m to the reply right of the request req (a numbered send,
// as Send). A request replayed on another node than the one it arrived
// on has lost its reply right with that node: the reply is dropped.
func (env *Env) Reply(req, m *kernel.Message) error {
	m.Dest = req.Reply
	if req.Reply == kernel.NameNull || (!env.live && env.p.foreign(env.e)) {
		m.Dest = kernel.NameNull
	}
	return env.Send(m)
}
