// Command usernode is a user's node binary, as a test builds it: a stable
// program, reliable servers and published programs of its own, registered
// through package node, none of them known to ftmctl or to the default
// node binary. The same three workloads run in both recovery modes
// (ftmctl's BenchmarkCompareModes): a client loop adding to one task
// (tally, acc), a pipeline of three tasks (ck1..3, pub1..3) and a long
// computation per request (crunch, pcrunch).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

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

// stageServer is a stage of the checkpointed pipeline: it adds to its sum
// and calls the next stage (of the same bank), whose answer it returns;
// the last stage answers its sum.
func stageServer(next string) func(servers.Config) (*servers.Server[tally], error) {
	return func(cfg servers.Config) (*servers.Server[tally], error) {
		srv, err := servers.NewServer(cfg, func() tally { return tally{} })
		if err != nil {
			return nil, err
		}
		bank, _, _ := strings.Cut(cfg.Name, "/")
		servers.Handle(srv, addOp, func(c *servers.Call, s *tally, by int64) (int64, error) {
			s.N += by
			if next == "" {
				return s.N, nil
			}
			return addOp.At(bank+"/"+next).Call(c.Context(), c.Client(), by)
		})
		return srv, nil
	}
}

// crunchRounds is the work of one request of the long computation:
// SHA-256 rounds chained over the state.
const crunchRounds = 20000

// crunchState is the long computation's state: how many requests it has
// handled and the chained digest.
type crunchState struct {
	Count  int64
	Digest [32]byte
}

func (s *crunchState) step(body []byte) {
	for range crunchRounds {
		s.Digest = sha256.Sum256(append(s.Digest[:], body...))
	}
	s.Count++
}

var crunchOp = servers.NewMethod[int64, int64]("add", servers.Update)

// newCrunch is the long computation as a checkpointed reliable server.
func newCrunch(cfg servers.Config) (*servers.Server[crunchState], error) {
	srv, err := servers.NewServer(cfg, func() crunchState { return crunchState{} })
	if err != nil {
		return nil, err
	}
	servers.Handle(srv, crunchOp, func(_ *servers.Call, s *crunchState, by int64) (int64, error) {
		s.step([]byte(strconv.FormatInt(by, 10)))
		return s.Count, nil
	})
	return srv, nil
}

// pcrunch is the long computation as a published program: it answers
// "COUNT COUNT".
type pcrunch struct{ crunchState }

func (p *pcrunch) Handle(env *publish.Env, m *kernel.Message) error {
	p.step(m.Body)
	return env.Reply(m, &kernel.Message{Body: []byte(fmt.Sprintf("%d %d", p.Count, p.Count))})
}

func (p *pcrunch) Snapshot() ([]byte, error) { return json.Marshal(p.crunchState) }

func (p *pcrunch) Restore(state []byte) error {
	p.crunchState = crunchState{}
	if state == nil {
		return nil
	}
	return json.Unmarshal(state, &p.crunchState)
}

// stage is a stage of the published pipeline: it adds the number it gets
// and passes it to its peer "next" with the request's reply right; the
// last stage answers "COUNT SUM". A replayed message carries no reply
// right on (on another node it died with the old one; on the same node
// its send is a re-send, dropped).
type stage struct {
	acc
	last bool // configuration, not state
}

func (s *stage) Handle(env *publish.Env, m *kernel.Message) error {
	if s.last {
		return s.acc.Handle(env, m)
	}
	n, err := strconv.ParseInt(string(m.Body), 10, 64)
	if err != nil {
		return err
	}
	s.Count++
	s.Sum += n
	reply := m.Reply
	if env.Replaying() {
		reply = kernel.NameNull
	}
	return env.Send(&kernel.Message{Dest: env.Peer("next"), Reply: reply, Body: m.Body})
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
		node.Published("acc", func() publish.Machine { return &acc{} }),
		// the pipeline, last stage first (a stage's peer is registered before it)
		node.Server("ck3", stageServer("")), node.Server("ck2", stageServer("ck3")),
		node.Server("ck1", stageServer("ck2"), node.Op(addOp)),
		node.Published("pub3", func() publish.Machine { return &stage{last: true} }),
		node.Published("pub2", func() publish.Machine { return &stage{} }).WithPeers(map[string]string{"next": "pub3"}),
		node.Published("pub1", func() publish.Machine { return &stage{} }).WithPeers(map[string]string{"next": "pub2"}),
		node.Server("crunch", newCrunch, node.Op(crunchOp)),
		node.Published("pcrunch", func() publish.Machine { return &pcrunch{} }))
}
