package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ftm-in-go/ftm/node/control"
	"github.com/ftm-in-go/ftm/servers"
)

// Call calls the operation m of the reliable server m is bound to
// (BANK/NAME: kv.Put.At("n1/kv")) with req, and returns its result: the
// same typed declaration an in-node client calls (servers.NewMethod),
// checked by the compiler. Req and Resp travel as JSON, so their fields
// must be exported.
//
// The call is an external client's: an update is answered only once the
// server's recovery unit committed (output commit), so an acknowledged
// update survives the loss of either node. A call that finds its node dead,
// or the bank's servers not running yet, is retried, on the partner too,
// with the same request id until ctx ends: the server executes it once. An
// error the handler returned is a *servers.RemoteError, errors.Is matching
// the declared error it carries, as with an in-node client.
func Call[Req, Resp any](ctx context.Context, c *Conn, m servers.Method[Req, Resp], req Req) (Resp, error) {
	var zero Resp
	server := m.Server()
	arg, err := json.Marshal(req)
	if err != nil {
		return zero, fmt.Errorf("client: %s.%s: encode the request: %w", server, m.Name(), err)
	}
	out, err := c.call(ctx, server, m.Name(), arg)
	var hr *handlerRefusal
	if errors.As(err, &hr) {
		return zero, m.RemoteError(server, hr.msg, hr.code)
	}
	if err != nil {
		return zero, err
	}
	var resp Resp
	if err := json.Unmarshal(out, &resp); err != nil {
		return zero, fmt.Errorf("client: %s.%s: decode the result: %w", server, m.Name(), err)
	}
	return resp, nil
}

// handlerRefusal is an error the server's handler returned: its message
// and the code of the declared error it matched.
type handlerRefusal struct {
	msg, code string
}

func (h *handlerRefusal) Error() string { return h.msg }

// errNotAnswering: no connection to the node, or no reply.
var errNotAnswering = errors.New("no connection")

// retryable is an attempt that may succeed later or on the other node.
type retryable struct{ err error }

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// call makes the call of op on server with the JSON argument arg, retried
// through the pair's nodes until ctx ends, and returns the JSON result.
func (c *Conn) call(ctx context.Context, server, op string, arg json.RawMessage) (json.RawMessage, error) {
	bank, name, ok := strings.Cut(server, "/")
	if !ok || bank == "" || name == "" {
		return nil, fmt.Errorf("%w: server %q: want BANK/NAME (bind the method with At)", ErrRefused, server)
	}
	i, err := c.first(bank)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	seq := c.ids.begin()
	defer c.ids.end(seq)
	req := control.CallRequest{Server: server, Op: op, Arg: arg,
		ID: &control.RequestID{Client: c.ids.client, Seq: seq, Low: c.ids.low()}}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	pause := c.cfg.Backoff
	for attempt := 0; ; attempt++ {
		rep, err := c.attempt(ctx, i, body)
		var again *retryable
		if !errors.As(err, &again) {
			if err == nil {
				c.answered(bank, i)
				return rep.Result, nil
			}
			return nil, fmt.Errorf("%s.%s: %w", server, op, err)
		}
		i = c.next(i) // the partner may have taken the bank over
		if attempt == 0 {
			continue // straight to the partner once
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil, fmt.Errorf("client: %s.%s: %w", server, op, ctx.Err())
			}
			return nil, fmt.Errorf("%w: %s.%s: %w (last: %v)", ErrUnavailable, server, op, ctx.Err(), again.err)
		case <-time.After(pause):
		}
		pause = min(2*pause, maxBackoff)
	}
}

// post sends one attempt of a call to the node.
func (n *nodeConn) post(ctx context.Context, body []byte) (*control.CallReply, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://node/call", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set(control.AuthHeader, n.token)
	resp, err := n.http.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &retryable{fmt.Errorf("node %s: %w", n.name, ctx.Err())}
		}
		return nil, &retryable{fmt.Errorf("node %s is not answering: %w: %w", n.name, errNotAnswering, err)}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, resp.Body) // to EOF: the connection is kept for the next call
		resp.Body.Close()
	}()
	if resp.StatusCode == http.StatusOK {
		var rep control.CallReply
		if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
			return nil, &retryable{fmt.Errorf("node %s: the answer: %w", n.name, err)}
		}
		return &rep, nil
	}
	return nil, n.refusal(resp)
}

// refusal is the error of a node's answer other than 200 OK.
func (n *nodeConn) refusal(resp *http.Response) error {
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	line, _, _ := strings.Cut(strings.TrimSpace(string(msg)), "\n")
	switch resp.StatusCode {
	case http.StatusNotFound: // the handler's error: "BANK/NAME.OP: message"
		_, text, _ := strings.Cut(line, ": ")
		return &handlerRefusal{msg: text, code: resp.Header.Get(control.ErrorCodeHeader)}
	case http.StatusBadRequest:
		return fmt.Errorf("%w: node %s: %s", ErrRefused, n.name, line)
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: node %s", ErrAuth, n.name)
	default: // 503: the bank's servers are not reachable from it yet
		return &retryable{fmt.Errorf("node %s: %s", n.name, line)}
	}
}
