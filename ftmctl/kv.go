package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/examples/kvstore/kv"
	"github.com/ftm-in-go/ftm/node/control"
)

func newKVCmd() *cobra.Command {
	var dir, output, bank, from string
	cmd := &cobra.Command{
		Use: "kv put KEY VALUE | add KEY N | get KEY",
		Example: `  ftmctl kv put visits 1
  ftmctl kv add visits 1
  ftmctl kv get visits -o json
  ftmctl kv add visits 1 --from beta   # from beta/app: durable after 'ckpt now beta/app'`,
		Short: "Call the built-in reliable key-value server of a bank (put, add, get)",
		Long: `kv calls BANK/kv, the reliable key-value server every node runs for each STM
bank it holds (the tutorial server of examples/kvstore; 'ftmctl ru' lists
its recovery unit). BANK is the first node's bank unless --bank says.

By default the call comes from an external client (outside every recovery
unit): the server answers an update only once its RU has committed in a
checkpoint (output commit), so an acknowledged update survives any single
node failure.

With --from BANK2 the call is made by the application recovery unit
BANK2/app instead: an update then creates dependencies both ways between
BANK2/app's RU and the server's (see 'ftmctl ru graph'), and nothing is
durable until a checkpoint commits them: 'ftmctl ckpt now BANK2/app'.`,
		Args: kvArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, actionFormats...); err != nil {
				return err
			}
			req, err := kvRequestOf(args, bank, from)
			if err != nil {
				return err
			}
			req, node, err := kvRoute(cmd, dir, req)
			if err != nil {
				return err
			}
			rep, err := callKV(cmd.Context(), newControlClient(dir, node).withTimeout(15*time.Second), req)
			if err != nil {
				return err
			}
			if structured(output) {
				return printStructured(cmd.OutOrStdout(), output, rep)
			}
			return printKV(cmd, rep)
		},
	}
	addPairFlags(cmd, &dir, &output, actionFormats...)
	cmd.Flags().StringVar(&bank, "bank", "", "the bank whose kv server is called (default: the first node's)")
	cmd.Flags().StringVar(&from, "from", "", "make the call from the application recovery unit BANK/app (default: an external client)")
	return cmd
}

// kvRequest is one ftmctl kv call.
type kvRequest struct {
	Bank  string // the kv server called: BANK/kv
	Op    string // put, add, get
	Key   string
	Value int64  // put: the value; add: the increment
	From  string // call from BANK/app (an RU) instead of an external client
}

// kvReply is the answer to a kv call, as ftmctl kv -o json prints it.
type kvReply struct {
	Node   string `json:"node"`   // the node that made the call
	Server string `json:"server"` // BANK/kv
	Op     string `json:"op"`
	Key    string `json:"key"`
	Value  int64  `json:"value"`
	// Caller is the RU the call was made in ("" for an external client,
	// whose update is answered only once the server's RU committed).
	Caller string `json:"caller,omitempty"`
	// Durable: what the call returned is committed (an external client's
	// call is answered only once the server's RU committed).
	Durable bool `json:"durable"`
}

// callKV makes the call of req through the node's generic call endpoint:
// its argument is the kv server's request (kv.PutReq, kv.AddReq or the
// key), its result the value.
func callKV(ctx context.Context, c *controlClient, req kvRequest) (kvReply, error) {
	var arg any = req.Key
	switch req.Op {
	case "put":
		arg = kv.PutReq{Key: req.Key, Value: req.Value}
	case "add":
		arg = kv.AddReq{Key: req.Key, By: req.Value}
	}
	b, err := json.Marshal(arg)
	if err != nil {
		return kvReply{}, err
	}
	var cr control.CallReply
	call := control.CallRequest{Server: req.Bank + "/" + kv.Name, Op: req.Op, Arg: b, From: req.From}
	if err := c.post(ctx, "/call", call, &cr); err != nil {
		return kvReply{}, err
	}
	rep := kvReply{Node: cr.Node, Server: cr.Server, Op: cr.Op, Key: req.Key, Caller: cr.Caller, Durable: cr.Durable}
	if err := json.Unmarshal(cr.Result, &rep.Value); err != nil {
		return kvReply{}, fmt.Errorf("node %s: the answer of %s.%s: %w", cr.Node, cr.Server, cr.Op, err)
	}
	return rep, nil
}

// kvArgs checks a kv command line: an operation and its arguments.
func kvArgs(_ *cobra.Command, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("kv needs an operation: put KEY VALUE, add KEY N or get KEY")
	}
	want := map[string]int{"put": 3, "add": 3, "get": 2}[args[0]]
	switch {
	case want == 0:
		return fmt.Errorf("unknown kv operation %q (want put, add or get)", args[0])
	case len(args) != want:
		return fmt.Errorf("kv %s takes %d argument(s), got %d", args[0], want-1, len(args)-1)
	}
	return nil
}

// kvRequestOf builds the request of a kv command line (checked by kvArgs).
func kvRequestOf(args []string, bank, from string) (kvRequest, error) {
	req := kvRequest{Op: args[0], Key: args[1], Bank: bank, From: from}
	if len(args) == 3 {
		v, err := strconv.ParseInt(args[2], 10, 64)
		if err != nil {
			return req, fmt.Errorf("bad value %q: want an integer", args[2])
		}
		req.Value = v
	}
	return req, nil
}

// kvRoute completes req (its bank defaults to the first node's) and picks
// the node to send it to: the one running the server for an external call,
// the one running BANK2/app for a call --from BANK2.
func kvRoute(cmd *cobra.Command, dir string, req kvRequest) (kvRequest, string, error) {
	st, err := loadPair(dir)
	if err != nil {
		return req, "", err
	}
	if req.Bank == "" {
		req.Bank = st.Nodes[0].Name
	}
	nodes, err := fetchRU(cmd, dir, "")
	if err != nil {
		return req, "", err
	}
	via := req.Bank // an external call goes through the node running the server
	if req.From != "" {
		via = req.From // a call from BANK2/app is made where that unit runs
	}
	node, err := runningHost(nodes, via)
	if err != nil {
		return req, "", err
	}
	if _, err := runningHost(nodes, req.Bank); err != nil {
		return req, "", err
	}
	return req, node, nil
}

// runningHost returns the node that runs the reliable servers of bank, or
// a one-line reason why none does.
func runningHost(nodes []ruNode, bank string) (string, error) {
	var why []string
	for _, n := range nodes {
		if n.Off != "" {
			why = append(why, fmt.Sprintf("node %s runs none: %s", n.Node, n.Off))
		}
		for _, h := range n.Hosts {
			if h.Bank != bank {
				continue
			}
			if h.Running {
				return n.Node, nil
			}
			why = append(why, fmt.Sprintf("node %s holds it but %s", n.Node, h.Waiting))
		}
	}
	if len(why) == 0 {
		var banks []string
		for _, n := range nodes {
			for _, h := range n.Hosts {
				if h.Running {
					banks = append(banks, h.Bank)
				}
			}
		}
		return "", fmt.Errorf("no running node runs the servers of bank %q (banks served: %s)", bank, listOrNone(banks))
	}
	return "", fmt.Errorf("the servers of bank %s are not running: %s", bank, strings.Join(why, "; "))
}

func printKV(cmd *cobra.Command, r kvReply) error {
	var line string
	switch r.Op {
	case "get":
		line = fmt.Sprintf("%s: %s = %d", r.Server, r.Key, r.Value)
	default:
		line = fmt.Sprintf("%s: %s %s -> %d", r.Server, r.Op, r.Key, r.Value)
	}
	switch {
	case r.Caller != "" && r.Op != "get":
		app := r.Caller
		if i := strings.LastIndex(app, "."); i > 0 {
			app = app[:i]
		}
		line += fmt.Sprintf(" (called in RU %s: durable once it checkpoints, `ftmctl ckpt now %s`)", r.Caller, app)
	case r.Caller != "":
		line += fmt.Sprintf(" (read in RU %s)", r.Caller)
	case r.Op != "get":
		line += " (external call: answered after the server's RU committed)"
	}
	_, err := fmt.Fprintln(cmd.OutOrStdout(), line)
	return err
}
