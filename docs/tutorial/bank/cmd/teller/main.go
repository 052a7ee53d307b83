// Command teller calls the bank server of a pair from outside it:
//
//	teller deposit ACCOUNT CENTS
//	teller withdraw ACCOUNT CENTS
//	teller balance ACCOUNT
//
// It sends the call to a node's control socket (DIR/NODE.sock; -dir, .ftm
// by default), trying the pair's nodes in turn until one answers. The
// node makes the call as an external client: it answers an update only
// once the update is committed, so what teller prints is durable.
package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ftm-in-go/ftm/node/control"

	"example.com/bank/bank"
)

func main() {
	dir := flag.String("dir", ".ftm", "the pair's directory")
	flag.Parse()
	if err := run(*dir, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "teller:", err)
		os.Exit(1)
	}
}

func run(dir string, args []string) error {
	op, arg, err := request(args)
	if err != nil {
		return err
	}
	pair, err := control.LoadPair(dir)
	if err != nil {
		return err
	}
	secret, err := control.ReadSecret(dir)
	if err != nil {
		return err
	}
	// The bank server of the pair's first node's STM bank: it runs on
	// that node, or on its partner once the partner has taken it over.
	req := control.CallRequest{Server: pair.Nodes[0].Name + "/" + bank.Name, Op: op, Arg: arg}
	for _, n := range pair.Nodes {
		rep, err := socketOf(dir, n.Name, secret).call(req)
		if errors.Is(err, errNoAnswer) {
			continue // a dead node: the call never reached it
		}
		if err != nil {
			return err
		}
		var cents int64
		if err := json.Unmarshal(rep.Result, &cents); err != nil {
			return err
		}
		fmt.Printf("%s: %d cents (%s, called through node %s, durable: %v)\n", args[1], cents, rep.Server, rep.Node, rep.Durable)
		return nil
	}
	return errors.New("no node of the pair answers (is the pair up?)")
}

// request is the operation and JSON argument of a command line.
func request(args []string) (string, json.RawMessage, error) {
	switch {
	case len(args) == 2 && args[0] == "balance":
		arg, err := json.Marshal(args[1])
		return bank.Balance.Name(), arg, err
	case len(args) == 3 && (args[0] == "deposit" || args[0] == "withdraw"):
		cents, err := strconv.ParseInt(args[2], 10, 64)
		if err != nil {
			return "", nil, fmt.Errorf("%q is not a number of cents", args[2])
		}
		arg, err := json.Marshal(bank.Move{Account: args[1], Cents: cents})
		return args[0], arg, err
	}
	return "", nil, errors.New("usage: teller deposit|withdraw ACCOUNT CENTS, or teller balance ACCOUNT")
}

// errNoAnswer: a node's control socket took no call (the node is down).
var errNoAnswer = errors.New("its control socket does not answer")

// socket is a node's control socket and the token its requests carry.
type socket struct {
	node, path, token string
}

func socketOf(dir, node string, secret []byte) socket {
	return socket{node: node, path: filepath.Join(dir, node+".sock"),
		token: control.AuthScheme + hex.EncodeToString(control.Token(secret, node))}
}

// call sends req to the node and returns its reply.
func (s socket) call(req control.CallRequest) (control.CallReply, error) {
	var rep control.CallReply
	body, err := json.Marshal(req)
	if err != nil {
		return rep, err
	}
	hc := http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", s.path)
		}}}
	hr, err := http.NewRequest(http.MethodPost, "http://node/call", bytes.NewReader(body))
	if err != nil {
		return rep, err
	}
	hr.Header.Set(control.AuthHeader, s.token)
	resp, err := hc.Do(hr)
	if err != nil {
		return rep, fmt.Errorf("node %s: %w (%v)", s.node, errNoAnswer, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return rep, fmt.Errorf("node %s: %s", s.node, strings.TrimSpace(string(msg)))
	}
	return rep, json.NewDecoder(resp.Body).Decode(&rep)
}
