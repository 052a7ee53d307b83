package node_test

import (
	"encoding/binary"
	"errors"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/node"
	"github.com/ftm-in-go/ftm/publish"
)

// counter is a published program: it counts the messages it receives and
// replies with the count. Its behaviour depends only on its messages.
type counter struct{ n uint64 }

func (c *counter) Handle(env *publish.Env, m *kernel.Message) error {
	c.n++
	return env.Reply(m, &kernel.Message{Body: binary.BigEndian.AppendUint64(nil, c.n)})
}

func (c *counter) Snapshot() ([]byte, error) { return binary.BigEndian.AppendUint64(nil, c.n), nil }

func (c *counter) Restore(state []byte) error {
	c.n = 0
	if state == nil {
		return nil
	}
	if len(state) != 8 {
		return errors.New("counter: bad state")
	}
	c.n = binary.BigEndian.Uint64(state)
	return nil
}

// A user's node binary registers a program as published (its messages
// logged, replayed after a crash) beside a checkpointed one: each chooses
// its recovery mode where it is registered.
func ExamplePublished() {
	regs := []node.Registration{
		node.Published("counter", func() publish.Machine { return &counter{} }),
	}
	_ = regs // a binary's main: node.Main(regs...)
}
