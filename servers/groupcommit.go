package servers

import (
	"context"

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

// burst is the server loop's view of a burst of requests queued at its
// port. Owned by the Run goroutine.
type burst struct {
	// unflushed is an RU whose commit waiting replies leave to the end of
	// the burst (zero: none).
	unflushed ru.ID
}

// serveLoop serves the requests on p one at a time until ctx ends; after
// the last request of a burst it asks for the commit its replies wait for.
func (s *Server[S]) serveLoop(ctx context.Context, p kernel.Name) error {
	for {
		m, err := s.cfg.Task.Receive(ctx, p)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		s.serve(ctx, m)
		if !s.burst.unflushed.IsZero() && !s.moreQueued() {
			s.cfg.Driver.requestCommit(s.burst.unflushed)
			s.burst.unflushed = ru.ID{}
		}
	}
}

// moreQueued reports whether another request waits at the server's port.
func (s *Server[S]) moreQueued() bool {
	st, err := s.cfg.Task.Status(s.port)
	return err == nil && st.QueueLen > 0
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
