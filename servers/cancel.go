package servers

import (
	"context"
	"sync"
	"time"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/stm"
	"go.uber.org/zap"
)

// Cancellation crosses the call path (the survey's Amoeba EXCEPTION,
// §3.2.1): a client whose context is cancelled while it waits for a reply
// sends a cancel message naming the request (client id, sequence number)
// to the server's cancel port, bound to the persistent name
// "<server>/cancel". A server receives on that port beside its cyclic
// loop and cancels the context of the call in progress when it is the
// one named; a cancel that arrives before its call is kept (a few) and
// cancels the call as it starts. The handler's nested calls, made with
// its context, are cancelled in turn. Best effort, as the paper's: a
// lost cancel leaves the call to finish (a deadline still ends it,
// deadline.go).

// msgCancel is the id of a cancel message on a server's cancel port.
const msgCancel uint32 = 0x5e7e0004

// maxEarly bounds the cancels kept for calls not started yet.
const maxEarly = 64

// cancelSendTimeout bounds the resolve and send of a cancel message.
const cancelSendTimeout = 100 * time.Millisecond

// cancelName is the persistent name of a server's cancel port.
func cancelName(server string) string { return server + "/cancel" }

// callKey names one request of one client.
type callKey struct {
	Client string
	Seq    uint64
}

// cancels is a server's view of the call in progress, for its cancel
// port. mu guards it; it is taken under callMu, never the other way.
type cancels struct {
	mu     sync.Mutex
	cur    callKey
	cancel context.CancelFunc // cancels the call in progress; nil: no call
	own    bool               // cancel is the call's own (a deadline): end releases it
	early  map[callKey]bool   // cancels that came before their call

	// shared is the context of calls without a deadline, reused from call
	// to call until a cancel ends it: the common call allocates nothing
	// for it. A handler's goroutine that outlives its call and keeps the
	// context may see a later call's cancel.
	shared       context.Context
	sharedCancel context.CancelFunc
}

// begin makes the call of req the one in progress and returns its
// context: ctx (the server's), ended by the request's deadline
// (deadline.go) or by its client's cancel message — at once if the
// cancel came first.
func (cs *cancels) begin(ctx context.Context, req request) context.Context {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var callCtx context.Context
	if req.Timeout > 0 {
		callCtx, cs.cancel = context.WithTimeout(ctx, req.Timeout)
		cs.own = true
	} else {
		if cs.shared == nil || cs.shared.Err() != nil {
			cs.shared, cs.sharedCancel = context.WithCancel(ctx)
		}
		callCtx, cs.cancel, cs.own = cs.shared, cs.sharedCancel, false
	}
	cs.cur = callKey{Client: req.Client, Seq: req.Seq}
	if cs.early[cs.cur] {
		delete(cs.early, cs.cur)
		cs.cancel()
	}
	return callCtx
}

// end says the call ended: its own context is released.
func (cs *cancels) end() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.own {
		cs.cancel()
	}
	cs.cur, cs.cancel, cs.own = callKey{}, nil, false
}

// close releases the shared context (the server stops).
func (cs *cancels) close() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.sharedCancel != nil {
		cs.sharedCancel()
	}
}

// cancelCall cancels call k if it is in progress, or keeps k for when it
// starts.
func (cs *cancels) cancelCall(k callKey) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.cancel != nil && cs.cur == k {
		cs.cancel()
		return
	}
	if cs.early == nil || len(cs.early) >= maxEarly {
		cs.early = map[callKey]bool{}
	}
	cs.early[k] = true
}

// cancelLoop receives cancel messages on port until it is destroyed or
// ctx ends.
func (s *Server[S]) cancelLoop(ctx context.Context, port kernel.Name) {
	for {
		m, err := s.cfg.Task.Receive(ctx, port)
		if err != nil {
			return
		}
		id, body := m.ID, m.Body
		m.Free()
		if id != msgCancel {
			continue
		}
		k, err := decodeAny[callKey](body)
		if err != nil {
			continue
		}
		s.log.Debug("call cancelled by its client", zap.String("client", k.Client), zap.Uint64("seq", k.Seq))
		s.cancels.cancelCall(k)
	}
}

// serveCancels allocates the server's cancel port, binds its name and
// receives on it until ctx ends; stop destroys the port and waits.
func (s *Server[S]) serveCancels(ctx context.Context) (stop func(), err error) {
	p, err := s.cfg.Task.AllocatePort()
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Names.Register(cancelName(s.cfg.Name), p); err != nil {
		_ = s.cfg.Task.Destroy(p)
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.cancelLoop(ctx, p)
	}()
	return func() {
		_ = s.cfg.Task.Destroy(p)
		<-done
		s.cancels.close()
	}, nil
}

// sendCancel tells server that the client gave up request seq (its
// context was cancelled): best effort, bounded by cancelSendTimeout.
func (c *Client) sendCancel(ctx context.Context, server string, seq uint64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelSendTimeout)
	defer cancel()
	port, err := c.cfg.Names.Resolve(ctx, cancelName(server))
	if err != nil {
		return
	}
	body, err := stm.Encode(callKey{Client: c.id, Seq: seq})
	if err != nil {
		return
	}
	m := kernel.NewMessage()
	m.Dest, m.ID, m.Body = port, msgCancel, body
	if err := c.cfg.Task.TrySend(m); err != nil {
		m.Free()
		c.cfg.Names.Forget(cancelName(server), port)
	}
}
