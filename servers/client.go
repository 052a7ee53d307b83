package servers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/ftm-in-go/ftm/stm"
	"go.uber.org/zap"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Name is the client's recovery-unit name when Driver is set (an
	// application RU, unique in the system), else only a label.
	Name    string
	Driver  *Driver       // runs the client's RU; nil: an external (non-recoverable) client
	Task    *kernel.Task  // the task making calls (default: the driver's); Names must resolve into it
	Names   names.Service // default: the driver's
	Timeout time.Duration // per attempt (default 2 s); a dead server port is noticed at once
	Retries int           // attempts per call (default 50)
	Backoff time.Duration // pause between attempts (default 5 ms)
	Logger  *zap.Logger
	// Observe, when set, is told each call's server, method, duration
	// (its attempts included) and error, for metrics. It must not block.
	Observe func(server, method string, d time.Duration, err error)
}

// Client makes reliable calls. A client with a Driver owns an application
// recovery unit: every call records the dependencies its reply carries,
// and Checkpoint commits the RU with everything it depends on. Without a
// Driver it is an external client: a server makes an update durable before
// it answers it (output commit). A retried request keeps its sequence
// number, so a server executes it at most once. Calls are serialized.
type Client struct {
	cfg    ClientConfig
	unit   string // RU name ("" for an external client)
	nested bool   // calls made by a server inside a served call
	id     string // duplicate-table key: name plus a per-instance nonce

	mu      sync.Mutex // one call at a time; guards the fields below
	seq     uint64
	low     uint64 // requests below low were answered
	reply   kernel.Name
	watched map[kernel.Name]bool
	lastRU  ru.ID    // the RU the last attempt ran in
	seen    ru.ID    // the RU at the end of the last call or checkpoint
	in      servedIn // nested: the RU of the served call in progress (set by the server)
}

// NewClient returns a client; with a Driver it attaches the client's RU
// (restarted from its saved state if it had one).
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Name == "" {
		return nil, fmt.Errorf("servers: client needs a Name")
	}
	if cfg.Driver != nil {
		cfg.Task, cfg.Names = cfg.Driver.defaults(cfg.Task, cfg.Names)
	}
	if cfg.Task == nil || cfg.Names == nil {
		return nil, fmt.Errorf("servers: client %q needs a Task and Names (or a Driver)", cfg.Name)
	}
	c := newClient(cfg, false)
	if cfg.Driver != nil {
		c.unit = cfg.Name
		if err := cfg.Driver.attach(cfg.Name, nil); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func newClient(cfg ClientConfig, nested bool) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 50
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 5 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	c := &Client{cfg: cfg, nested: nested, id: cfg.Name + "/" + hex.EncodeToString(nonce[:]),
		watched: map[kernel.Name]bool{}}
	if nested {
		c.unit = cfg.Name
	}
	return c
}

// RU returns the client's current recovery unit (zero for an external client).
func (c *Client) RU() ru.ID {
	if c.unit == "" {
		return ru.ID{}
	}
	return c.cfg.Driver.unitRU(c.unit)
}

// serveIn sets the RU of the served call in progress (a server's nested
// client: its calls run in that RU).
func (c *Client) serveIn(in servedIn) {
	c.mu.Lock()
	c.in = in
	c.mu.Unlock()
}

// Outcome reports how one of the client's recovery units ended: Pending
// while it runs, Committed or Aborted.
func (c *Client) Outcome(id ru.ID) ru.Outcome {
	if c.unit == "" || id.Name != c.unit {
		return ru.Pending
	}
	return c.cfg.Driver.outcome(id)
}

// Checkpoint commits the client's RU together with every RU it depends
// on (the checkpoint protocol, started by this RU), and waits for the end.
func (c *Client) Checkpoint(ctx context.Context) error {
	if c.unit == "" {
		return fmt.Errorf("servers: external client %q has no recovery unit", c.cfg.Name)
	}
	c.mu.Lock()
	err := c.abortedSince()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	err = c.cfg.Driver.checkpoint(ctx, c.unit)
	c.mu.Lock()
	c.seen = c.RU() // the outcome is reported here: later calls start afresh
	c.mu.Unlock()
	return err
}

// abortedSince reports (once) that the client's RU aborted since the last
// call or checkpoint returned: the application computed on state of an RU
// that is gone and must go back to its last checkpoint, as the paper
// restarts the process. c.mu held.
func (c *Client) abortedSince() error {
	if c.unit == "" || c.nested {
		return nil
	}
	cur, old := c.RU(), c.seen
	c.seen = cur
	if old.IsZero() || cur == old || c.cfg.Driver.outcome(old) != ru.Aborted {
		return nil
	}
	return fmt.Errorf("servers: %s aborted since the last call: %w", old, ErrAborted)
}

// Close releases the client's reply port and detaches its RU (its saved
// state stays in the bank).
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reply != kernel.NameNull {
		_ = c.cfg.Task.Destroy(c.reply)
		c.reply = kernel.NameNull
	}
	if c.unit != "" && !c.nested {
		c.cfg.Driver.detach(c.unit)
	}
}

func (c *Client) call(ctx context.Context, server, method string, body []byte) (out []byte, err error) {
	if f := c.cfg.Observe; f != nil {
		start := time.Now()
		defer func() { f(server, method, time.Since(start), err) }()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reply == kernel.NameNull {
		p, err := c.cfg.Task.AllocatePort()
		if err != nil {
			return nil, err
		}
		c.reply = p
	}
	req, own := c.number(ctx, method, body)
	if c.cfg.Driver != nil {
		req.Host = c.cfg.Driver.hostKey()
	}
	var last error
	for attempt := 0; attempt < c.cfg.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(c.cfg.Backoff):
			}
		}
		rep, err := c.attempt(ctx, server, req)
		if err != nil {
			if errors.Is(err, ErrAborted) {
				if c.unit != "" && !c.nested {
					c.seen = c.RU() // reported now
				}
				return nil, err
			}
			if ctx.Err() != nil {
				return nil, err
			}
			last = err
			continue
		}
		c.seen = c.lastRU
		switch rep.Status {
		case statusOK:
			c.answered(req.Seq, own)
			return rep.Body, nil
		case statusAppError:
			c.answered(req.Seq, own)
			return nil, &RemoteError{Server: server, Method: method, Msg: rep.Err, Code: rep.Code}
		case statusBad:
			c.answered(req.Seq, own)
			return nil, fmt.Errorf("%s.%s: %w: %s", server, method, ErrBadRequest, rep.Err)
		}
		last = fmt.Errorf("%s.%s: %s", server, method, rep.Err)
	}
	return nil, fmt.Errorf("servers: call %s.%s gave up after %d attempts: %w", server, method, c.cfg.Retries, last)
}

// number gives the request its identity: the RequestID ctx carries for
// an external client (own false), else the client's next number. c.mu held.
func (c *Client) number(ctx context.Context, method string, body []byte) (request, bool) {
	if id, ok := requestIDOf(ctx); ok && c.unit == "" && !c.nested {
		return request{Method: method, Client: id.Client, Seq: id.Seq, Low: id.Low, Body: body}, false
	}
	c.seq++
	return request{Method: method, Client: c.id, Seq: c.seq, Low: c.low + 1, Body: body}, true
}

// answered records that the client's own request seq was answered. c.mu held.
func (c *Client) answered(seq uint64, own bool) {
	if own {
		c.low = seq
	}
}

// attempt sends req once and waits for its reply, inside the client's RU
// bookkeeping when it has one.
func (c *Client) attempt(ctx context.Context, server string, req request) (*reply, error) {
	d := c.cfg.Driver
	oc := &outCall{unit: c.unit, server: server, seen: c.seen}
	if c.unit != "" {
		if c.nested {
			oc.in = &c.in
		}
		if err := d.beginOut(ctx, oc); err != nil {
			return nil, err
		}
		req.RU = oc.ru
		c.lastRU = oc.ru
	}
	req.Timeout = timeLeft(ctx) // measured when it leaves (deadline.go)
	rep, err := c.roundTrip(ctx, server, req)
	if rep == nil && errors.Is(ctx.Err(), context.Canceled) {
		c.sendCancel(ctx, server, req.Seq) // the server may be running it (cancel.go)
	}
	if c.unit != "" {
		if e := d.endOut(oc, rep); e != nil {
			return nil, e
		}
	}
	return rep, err
}

func (c *Client) roundTrip(ctx context.Context, server string, req request) (*reply, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	port, err := c.cfg.Names.Resolve(ctx, server)
	if err != nil {
		return nil, err
	}
	if !c.watched[port] {
		if err := c.cfg.Task.RequestNotification(port, kernel.NotifyDeadName, c.reply); err != nil {
			c.cfg.Names.Forget(server, port)
			return nil, err
		}
		c.watched[port] = true
	}
	body, err := stm.Encode(req)
	if err != nil {
		return nil, err
	}
	m := kernel.NewMessage()
	m.Dest, m.Reply, m.ReplyDisp, m.ID, m.Body = port, c.reply, kernel.MakeSendOnce, msgRequest, body
	if err := c.cfg.Task.Send(ctx, m); err != nil {
		m.Free()
		c.forget(server, port)
		return nil, err
	}
	for {
		r, err := c.cfg.Task.Receive(ctx, c.reply)
		if err != nil {
			return nil, err
		}
		id, rb := r.ID, r.Body
		if id == uint32(kernel.NotifyDeadName) {
			dead := kernel.NotifyName(r)
			r.Free()
			delete(c.watched, dead)
			if dead == port {
				c.forget(server, port)
				return nil, fmt.Errorf("servers: %s: %w", server, kernel.ErrPortDead)
			}
			continue
		}
		r.Free()
		if id != msgReply {
			continue
		}
		rep, err := decodeAny[reply](rb)
		if err != nil || rep.Seq != req.Seq {
			continue // stale reply of an earlier attempt, or garbage
		}
		return &rep, nil
	}
}

func (c *Client) forget(server string, port kernel.Name) {
	delete(c.watched, port)
	c.cfg.Names.Forget(server, port)
}
