// Command usernode is a user's node binary, as a test builds it: a stable
// program, a reliable server and a published program of its own,
// registered through package node, none of them known to ftmctl or to the
// default node binary.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/node"
	"github.com/ftm-in-go/ftm/publish"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/task"
)

// tally is the reliable server's state.
type tally struct{ N int64 }

var addOp = servers.NewMethod[int64, int64]("add", servers.Update)

func newTally(cfg servers.Config) (*servers.Server[tally], error) {
	srv, err := servers.NewServer(cfg, func() tally { return tally{} })
	if err != nil {
		return nil, err
	}
	servers.Handle(srv, addOp, func(_ *servers.Call, s *tally, by int64) (int64, error) {
		s.N += by
		return s.N, nil
	})
	return srv, nil
}

// square: square N — a stable program.
func square(_ context.Context, _ *task.Task, args []string) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("square: want N")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("squared %d", n*n), nil
}

// acc is a published program: it adds the numbers it is sent and replies
// "COUNT SUM" — how many it has handled and their sum, so a message lost
// or handled twice in a recovery shows in every later reply.
type acc struct{ Count, Sum int64 }

func (a *acc) Handle(env *publish.Env, m *kernel.Message) error {
	n, err := strconv.ParseInt(string(m.Body), 10, 64)
	if err != nil {
		return env.Reply(m, &kernel.Message{Body: []byte("error: " + err.Error())})
	}
	a.Count++
	a.Sum += n
	return env.Reply(m, &kernel.Message{Body: []byte(fmt.Sprintf("%d %d", a.Count, a.Sum))})
}

func (a *acc) Snapshot() ([]byte, error) { return json.Marshal(a) }

func (a *acc) Restore(state []byte) error {
	*a = acc{}
	if state == nil {
		return nil
	}
	return json.Unmarshal(state, a)
}

func main() {
	node.Main(node.Program("square", square), node.Server("tally", newTally, node.Op(addOp)),
		node.Published("acc", func() publish.Machine { return &acc{} }))
}
