// Command usernode is a user's node binary, as a test builds it: a stable
// program and a reliable server of its own, registered through package
// node, none of them known to ftmctl or to the default node binary.
package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/ftm-in-go/ftm/node"
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

func main() {
	node.Main(node.Program("square", square), node.Server("tally", newTally, node.Op(addOp)))
}
