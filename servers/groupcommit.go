package servers

import (
	"context"
	"fmt"
	"time"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/servers/ru"
)

// Durable updates of external clients: one backup round trip each, and
// one for a whole burst of them (group commit).
//
// An external client's update is answered only once the server's RU
// committed (output commit). The call's end and the commit are one step
// of the unit: endCall asks for the checkpoint in the same Ready that
// records the call, so the record and S go to the bank in one
// transaction (ru.UnitReady.CommitS), one round trip to the backup. When
// more requests already wait at the server's port, the call's record is
// not saved at its end and the commit is left to the last request of the
// burst: every reply of the burst waits for that one commit. Neither
// reply leaves before its RU committed, so no acknowledged update is
// lost at any crash point; an update lost with its RU was never answered
// and is retried by its client.

// burstLinger is how long, from its first request, a burst waits at most
// for the requests it expects before the server loop asks for its commit.
const burstLinger = 200 * time.Microsecond

// burst is the server loop's view of a burst of requests: the external
// updates whose replies wait for one commit. Owned by the Run goroutine.
//
// Requests queued at the port join the burst. So do, for a moment
// (burstLinger), the next requests of the clients the last burst
// answered: those clients are sending their next update while the loop
// would otherwise commit after the first, and the bursts would stay
// small (each commit one backup round trip). A lone client is never
// waited for: its burst is complete with its own request.
type burst struct {
	// unflushed is an RU whose commit waiting replies leave to the end of
	// the burst (zero: none).
	unflushed ru.ID
	clients   map[string]bool // external clients whose replies wait for the burst's commit
	expect    int             // how many clients the last burst answered
	deadline  time.Time       // the burst's first request plus burstLinger
	held      []heldReply     // the burst's replies, until its commit is asked for
	outs      []ru.Outcome    // releaseBurst's look at their RUs (reused)
}

// join adds client's request to the burst.
func (b *burst) join(client string) {
	if b.clients == nil {
		b.clients = map[string]bool{}
	}
	if len(b.clients) == 0 {
		b.deadline = time.Now().Add(burstLinger)
	}
	b.clients[client] = true
}

// short reports whether the burst, with client's request, holds fewer
// clients than the last one ("" counts no request).
func (b *burst) short(client string) bool {
	n := len(b.clients)
	if client != "" && !b.clients[client] {
		n++
	}
	return n < b.expect
}

// committed ends the burst: its commit was asked for.
func (b *burst) committed() {
	b.expect = len(b.clients)
	clear(b.clients)
	b.unflushed = ru.ID{}
	clear(b.held)
	b.held = b.held[:0]
}

// serveLoop serves the requests on p one at a time until ctx ends; after
// the last request of a burst it asks for the commit its replies wait for.
func (s *Server[S]) serveLoop(ctx context.Context, p kernel.Name) error {
	defer s.releaseBurst(ctx) // replies still held when the server stops wait as any
	var m *kernel.Message
	for {
		if m == nil {
			var err error
			if m, err = s.cfg.Task.Receive(ctx, p); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		s.serve(ctx, m)
		m = nil
		if s.burst.unflushed.IsZero() || s.moreQueued() {
			continue
		}
		if m = s.awaitBurst(ctx, p); m != nil {
			continue // the burst goes on
		}
		s.cfg.Driver.requestCommit(s.burst.unflushed)
		s.releaseBurst(ctx)
	}
}

// heldReply is a reply to send to to once RU ru committed (a retry if it
// aborted).
type heldReply struct {
	ru  ru.ID
	to  kernel.Name
	rep reply
}

// releaseBurst ends the burst, its commit asked for. Its held replies
// whose RU ended leave now, from the server loop, after one look at the
// driver (the commit ran in the request's step: as a rule, all of them);
// each other one leaves from a goroutine that waits for its RU's end.
func (s *Server[S]) releaseBurst(ctx context.Context) {
	s.burst.outs = s.cfg.Driver.outcomes(s.burst.held, s.burst.outs[:0])
	for i, h := range s.burst.held {
		switch s.burst.outs[i] {
		case ru.Committed:
			s.reply(h.to, h.rep)
		case ru.Aborted:
			s.reply(h.to, h.retry(fmt.Errorf("ru %s: %w", h.ru, ErrAborted)))
		default:
			s.outWG.Add(1) // output commit: the reply waits for the RU's commit
			go func() {
				defer s.outWG.Done()
				if err := s.cfg.Driver.awaitCommit(ctx, h.ru, false); err != nil {
					h.rep = h.retry(err)
				}
				s.reply(h.to, h.rep)
			}()
		}
	}
	s.burst.committed()
}

// retry is the reply h sends when its RU did not commit (err).
func (h *heldReply) retry(err error) reply {
	return reply{Status: statusRetry, Seq: h.rep.Seq, Err: err.Error()}
}

// outcomes appends to outs how the RU of each held reply ended so far
// (Pending: not yet, or its unit is down).
func (d *Driver) outcomes(held []heldReply, outs []ru.Outcome) []ru.Outcome {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, h := range held {
		o := ru.Pending
		if u := d.host.Unit(h.ru.Name); u != nil {
			o = u.Outcome(h.ru)
		}
		outs = append(outs, o)
	}
	return outs
}

// awaitBurst waits, until the burst's deadline, for a request the burst
// expects; nil when none came (or none is expected). It waits on the real
// clock whatever the node's: the wait only shapes batches.
func (s *Server[S]) awaitBurst(ctx context.Context, p kernel.Name) *kernel.Message {
	if !s.burst.short("") {
		return nil
	}
	left := time.Until(s.burst.deadline)
	if left <= 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, left)
	defer cancel()
	m, err := s.cfg.Task.Receive(wctx, p)
	if err != nil {
		return nil
	}
	return m
}

// moreQueued reports whether another request waits at the server's port.
func (s *Server[S]) moreQueued() bool {
	st, err := s.cfg.Task.Status(s.port)
	return err == nil && st.QueueLen > 0
}

// burstGoesOn reports whether a request of client ending now leaves its
// burst open: more requests are queued, or expected (burst).
func (s *Server[S]) burstGoesOn(client string) bool {
	return s.moreQueued() || s.burst.short(client)
}

// outputCommit reports whether call c's reply must wait for its RU's
// commit: an external client (no RU of its own to depend on it) whose
// call created a dependency (an update, or a read of modified state).
func (c *servedCall) outputCommit(deps ru.Deps) bool {
	return c.req.RU.IsZero() && (deps.ServerToClient || deps.ClientToServer)
}

// requestCommit asks for a checkpoint of RU id, unless one is asked for
// already or id ended.
func (d *Driver) requestCommit(id ru.ID) {
	d.mu.Lock()
	u := d.host.Unit(id.Name)
	if d.closed || u == nil || u.ID() != id || u.Wants() {
		d.mu.Unlock()
		return
	}
	u.Checkpoint()
	d.host.Touch(id.Name)
	envs, _ := d.flushLocked()
	d.mu.Unlock()
	d.send(envs)
}
