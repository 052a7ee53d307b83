package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/node/control"
)

// errBadCallArg is a call whose argument is not JSON.
var errBadCallArg = errors.New("bad JSON argument")

func newCallCmd() *cobra.Command {
	var dir, output string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "call BANK/SERVER OP [JSON]",
		Short: "Call an operation of any registered reliable server, JSON in and out",
		Long: `call calls the operation OP of the reliable server BANK/SERVER (registered on
the pair's nodes with node.Server and node.Op) as an external client, and
prints its result as JSON. JSON is the operation's request (default: null).

The call goes to the node running the servers of BANK. An external client's
update is answered only once the server's recovery unit has committed in a
checkpoint (output commit): an acknowledged update survives the loss of
either node.

An unknown server or operation, an argument that is not JSON or does not
decode as the operation's request, and an error the server's handler
returned (a declared one, such as kv's "no such key") end the command with
one line on stderr and exit status 1.`,
		Example: `  ftmctl call n1/kv put '{"Key":"a","Value":5}'
  ftmctl call n1/kv add '{"Key":"a","By":2}'
  ftmctl call n1/kv get '"a"'
  ftmctl call n1/kv len
  ftmctl call n1/kv get '"a"' -o json   # the whole reply: node, durable, result`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := firstError(checkOutput(output, actionFormats...), positive("--timeout", timeout)); err != nil {
				return err
			}
			req, err := callRequestOf(args)
			if err != nil {
				return err
			}
			bank, _, _ := strings.Cut(req.Server, "/")
			nodes, err := fetchRU(cmd, dir, "")
			if err != nil {
				return err
			}
			node, err := runningHost(nodes, bank)
			if err != nil {
				return err
			}
			var rep control.CallReply
			if err := newControlClient(dir, node).withTimeout(timeout).post(cmd.Context(), "/call", req, &rep); err != nil {
				return err
			}
			if structured(output) {
				return printStructured(cmd.OutOrStdout(), output, rep)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), string(rep.Result))
			return err
		},
	}
	addPairFlags(cmd, &dir, &output, actionFormats...)
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Second, "how long the call may take")
	return cmd
}

// callRequestOf builds the request of a call command line: BANK/SERVER,
// OP and the JSON argument (null when absent), compacted.
func callRequestOf(args []string) (control.CallRequest, error) {
	req := control.CallRequest{Server: args[0], Op: args[1], Arg: json.RawMessage("null")}
	if bank, name, ok := strings.Cut(req.Server, "/"); !ok || bank == "" || name == "" || strings.Contains(name, "/") {
		return req, fmt.Errorf("bad server %q: want BANK/SERVER, such as n1/kv", req.Server)
	}
	if len(args) == 3 {
		var b bytes.Buffer
		if err := json.Compact(&b, []byte(args[2])); err != nil {
			return req, fmt.Errorf("%w %q: %v", errBadCallArg, args[2], err)
		}
		req.Arg = b.Bytes()
	}
	return req, nil
}
