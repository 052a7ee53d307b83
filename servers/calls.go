package servers

import (
	"context"
	"fmt"

	"github.com/ftm-in-go/ftm/servers/ru"
	"go.uber.org/zap"
)

// The call path: a served call's admission and end at the server's unit,
// an outgoing call's write-ahead record and reply at the client's unit,
// and the output commit of replies to external clients. Each call's state
// travels as one value, from its start to its end.

// servedCall is one call served by a server's unit, from admission to end.
type servedCall struct {
	unit  string   // the server's unit
	req   request  // the caller's RU and host (zero RU: an external client)
	op    Op       // the method's attribute
	owner busyMark // the server, busy from admission to end
	// more reports whether another request waits at the server's port
	// (nil: never); asked is set when the call's end asked for the
	// output commit of its reply (groupcommit.go).
	more  func() bool
	asked bool

	u  *ru.Unit // the unit instance that admitted it
	ru ru.ID    // the RU it runs in
	id uint64   // call id given to ru.Admit
}

// busyMark is the server's in-call flag, set under the driver's mu.
type busyMark interface{ setBusy(bool) }

// outCall is one outgoing call of a unit, from its write-ahead record to
// its reply.
type outCall struct {
	unit, server string
	in           *servedIn // nested: the RU of the served call that makes it
	seen         ru.ID     // top level: the RU at the end of the client's last call

	u  *ru.Unit // the unit instance that made it
	ru ru.ID    // the RU it runs in
}

// servedIn is the RU a served call was admitted in.
type servedIn struct {
	unit *ru.Unit
	ru   ru.ID
}

// admit asks the server's unit to admit c, waiting while the call is
// deferred (phase 2) or waits for the initiator's authorization (§4.2.2).
func (d *Driver) admit(ctx context.Context, c *servedCall) error {
	d.mu.Lock()
	d.nextID++
	c.id = d.nextID
	d.learn(c.req.RU.Name, c.req.Host)
	for {
		if d.closed {
			d.mu.Unlock()
			return ErrClosed
		}
		u := d.host.Unit(c.unit)
		var attempt uint64 // the unit's initiated attempts: a fallback starts one
		if u != nil {
			attempt = u.State().Seq
		}
		if u != nil && u.Admit(c.id) == ru.Serve {
			c.owner.setBusy(true)
			c.u, c.ru = u, u.ID()
			if ce := d.log.Check(zap.DebugLevel, "admitted"); ce != nil { // no field built when off: hot path
				ce.Write(zap.String("unit", c.unit), zap.Stringer("ru", c.ru), zap.Uint64("call", c.id),
					zap.String("client", c.req.Client), zap.Uint64("seq", c.req.Seq), zap.Stringer("phase", u.Phase()))
			}
			d.flushAdmittedLocked(c.unit, u.State().Seq != attempt)
			return nil
		}
		if u != nil {
			d.host.Touch(c.unit)
			d.waits.Add(1)
		}
		envs, _ := d.flushLocked()
		ch := d.changed
		d.mu.Unlock()
		d.send(envs)
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		d.mu.Lock()
	}
}

// flushAdmittedLocked releases mu after an admission, running the host's
// Ready first when the admission made the unit fall back from a two-phase
// checkpoint it initiated to a three-phase one: its precommitted members
// must withdraw before the call can need them, so those messages leave
// now, not when the call ends. Otherwise nothing is flushed (the hot
// path; a record left unsaved by a burst's call stays so: groupcommit.go).
func (d *Driver) flushAdmittedLocked(unit string, fellBack bool) {
	if !fellBack {
		d.mu.Unlock()
		return
	}
	d.host.Touch(unit)
	envs, _ := d.flushLocked()
	d.mu.Unlock()
	d.send(envs)
}

// endCall records the call's dependencies at this level (§4.1), makes the
// server's record durable before the reply leaves, and ends the call. ok
// is false when the server's RU aborted during the call (S rolled back) or
// its record could not be saved (the unit restarts: the client retries).
func (d *Driver) endCall(c *servedCall) (deps ru.Deps, ok bool) {
	more := c.req.RU.IsZero() && c.more != nil && c.more() // before mu: it takes the kernel's lock
	d.mu.Lock()
	c.owner.setBusy(false)
	ui := d.units[c.unit]
	cur := d.host.Unit(c.unit)
	switch {
	case ui == nil:
	case cur != c.u || c.u.ID() != c.ru: // aborted or restarted during the call
		d.outlivedLocked(ui, c, cur)
	default:
		deps = recordDeps(c.u, c.op, c.req.RU)
		c.u.CallEnded(c.id)
		d.host.Touch(c.unit)
		if c.outputCommit(deps) && !d.outputCommitLocked(c, more) {
			d.mu.Unlock() // the burst's last call saves and commits this one's work
			return deps, true
		}
		if !d.host.HasReady() {
			// Nothing to save, send or wake: a call in a Running RU whose
			// dependencies were recorded already (the hot path).
			d.mu.Unlock()
			return deps, true
		}
		ok = true
	}
	envs, unsaved := d.flushLocked()
	if err := unsaved[c.unit]; err != nil || (ok && d.host.Unit(c.unit) != c.u) {
		if err != nil && d.host.Unit(c.unit) == c.u {
			d.log.Warn("save before reply failed", zap.String("unit", c.unit), zap.Error(err))
			d.host.Crash(c.unit) // its dependencies are not stable: its RU must abort
			more, _ := d.flushLocked()
			envs = append(envs, more...)
		}
		ok = false
	}
	d.mu.Unlock()
	d.send(envs)
	return deps, ok
}

// outputCommitLocked handles the end of a call whose reply waits for its
// RU's commit: the last call of a burst asks for the checkpoint now, so
// that its record and S reach the bank in one transaction; it reports
// whether the call's Ready is to be run now. A call with more requests
// behind it in a running RU runs none: its record needs no save before a
// reply that waits for the commit anyway (groupcommit.go). mu held.
func (d *Driver) outputCommitLocked(c *servedCall, more bool) bool {
	if !more {
		c.asked = true
		if !c.u.Wants() {
			c.u.Checkpoint()
		}
		return true
	}
	return c.u.Phase() != ru.Running
}

// outlivedLocked ends a call whose RU aborted, or whose unit restarted,
// while it ran: S is rolled back now that no call runs, and a restarted
// unit's stand-in for the call ends (pinCallLocked). mu held.
func (d *Driver) outlivedLocked(ui *unitInfo, c *servedCall, cur *ru.Unit) {
	d.log.Debug("call outlived its RU", zap.String("unit", ui.name), zap.Stringer("ru", c.ru),
		zap.Uint64("call", c.id), zap.Bool("restarted", cur != c.u), zap.Bool("reload", ui.reload))
	if cur == c.u {
		c.u.CallEnded(c.id)
		d.host.Touch(ui.name)
	}
	if ui.reload {
		d.reloadLocked(ui, ui.hook)
	}
	if cur != nil && cur != c.u && ui.pinned != 0 { // S is reloaded: the restarted unit may checkpoint
		cur.CallEnded(ui.pinned)
		ui.pinned = 0
		d.host.Touch(ui.name)
	}
}

// recordDeps applies the dependency rules of §4.1 for one call of op from
// client (zero: an external client) to the server's unit u. The unit
// marks itself for saving when a rule adds something its record lacks.
func recordDeps(u *ru.Unit, op Op, client ru.ID) ru.Deps {
	deps := ru.CallDeps(op, u.Modified())
	if op == Update {
		u.MarkModified()
	}
	if !client.IsZero() {
		if deps.ServerToClient {
			u.AddSucc(client)
		}
		if deps.ClientToServer {
			u.AddPred(client)
		}
	}
	return deps
}

// beginOut is the client side of a call: wait for the safe point (a top
// level call starts only while the unit is Running), record the call
// write-ahead and make it durable before the request is sent (§4.2.4).
//
// A nested call (within a served call) is made in the RU the served call
// was admitted in (c.in): if that RU ended or the unit restarted
// meanwhile, the nested call fails with ErrAborted instead of running in a
// new RU, whose commit would then keep the effects of an aborted call.
//
// A top-level call first reports an abort of the RU seen at the end of the
// client's last call (ErrAborted, with the current RU in c.ru).
func (d *Driver) beginOut(ctx context.Context, c *outCall) error {
	d.mu.Lock()
	for {
		if d.closed {
			d.mu.Unlock()
			return ErrClosed
		}
		u := d.host.Unit(c.unit)
		if err := c.startable(u); err != nil {
			if u != nil {
				c.ru = u.ID()
			}
			d.mu.Unlock()
			return err
		}
		if u != nil && (c.in != nil || u.Phase() == ru.Running) {
			envs, again, err := d.writeAheadLocked(c, u)
			if again {
				continue // the unit restarted on the way: look again
			}
			d.mu.Unlock()
			d.send(envs)
			return err
		}
		ch := d.changed
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		d.mu.Lock()
	}
}

// startable reports why c may not start in unit u: its served call's RU
// ended (nested), or the RU of the client's last call aborted since (top
// level). mu held.
func (c *outCall) startable(u *ru.Unit) error {
	if c.in != nil && (u != c.in.unit || u.ID() != c.in.ru) {
		return fmt.Errorf("nested call from %s: %w", c.in.ru, ErrAborted)
	}
	if c.in == nil && u != nil && !c.seen.IsZero() && u.Outcome(c.seen) == ru.Aborted {
		return fmt.Errorf("servers: %s aborted since the last call: %w", c.seen, ErrAborted)
	}
	return nil
}

// writeAheadLocked records c in u and runs the Ready that makes the
// record durable. again is true when u crashed on the way (the call did
// not start). A record that could not be saved undoes the call: the
// request never leaves. mu held.
func (d *Driver) writeAheadLocked(c *outCall, u *ru.Unit) (envs []ru.Envelope, again bool, err error) {
	u.OutCallStarted(c.server)
	d.host.Touch(c.unit)
	c.u, c.ru = u, u.ID()
	if !d.host.HasReady() {
		return nil, false, nil // the durable record lists a call to server already
	}
	envs, unsaved := d.flushLocked()
	if d.host.Unit(c.unit) != u {
		return envs, true, nil
	}
	if err = unsaved[c.unit]; err != nil { // or the unit never gets quiescent again
		u.OutCallEnded(c.server, u.ID())
		d.host.Touch(c.unit)
		more, _ := d.flushLocked()
		envs = append(envs, more...)
	}
	return envs, false, err
}

// endOut records the reply's dependencies in the client's unit (durable
// before the call returns to the caller) and ends the call. It returns
// ErrAborted when the client's RU ended during the call.
func (d *Driver) endOut(c *outCall, rep *reply) error {
	d.mu.Lock()
	if rep != nil {
		d.learn(c.server, rep.Host)
	}
	cur := d.host.Unit(c.unit)
	alive := cur == c.u && c.u.ID() == c.ru
	d.recordReplyLocked(c, rep, cur, alive)
	if cur == c.u {
		c.u.OutCallEnded(c.server, c.ru)
		if rep == nil && alive {
			c.u.KeepCallRecord(c.server) // the server may still run it
		}
		d.host.Touch(c.unit)
	}
	var envs []ru.Envelope
	var err error
	if d.host.HasReady() {
		var unsaved map[string]error
		envs, unsaved = d.flushLocked()
		err = unsaved[c.unit]
		alive = alive && d.host.Unit(c.unit) == c.u
	}
	d.mu.Unlock()
	d.send(envs)
	if !alive {
		return fmt.Errorf("call %s: %w", c.server, ErrAborted)
	}
	return err
}

// recordReplyLocked adds the dependencies a reply carries to the client's
// RU, or, when that RU is gone, extends its abort wave to the server's RU
// the call updated. mu held.
func (d *Driver) recordReplyLocked(c *outCall, rep *reply, cur *ru.Unit, alive bool) {
	if rep == nil || (rep.Status != statusOK && rep.Status != statusAppError) {
		return // not executed
	}
	switch {
	case alive:
		if rep.Deps.ServerToClient {
			c.u.AddPred(rep.ServerRU)
		}
		if rep.Deps.ClientToServer {
			c.u.AddSucc(rep.ServerRU)
		}
	case rep.Deps.ClientToServer && cur != nil:
		// The update came from an RU that is gone: the server's RU must
		// abort too (the conditional abort may have reached it before the
		// call). The abort wave of the old RU is extended to it.
		cur.AbortLate(c.ru, rep.ServerRU)
		d.host.Touch(c.unit)
	}
}

// checkpoint asks unit for a checkpoint and waits for its RU to end.
func (d *Driver) checkpoint(ctx context.Context, unit string) error {
	d.mu.Lock()
	u := d.host.Unit(unit)
	if u == nil {
		d.mu.Unlock()
		return fmt.Errorf("servers: checkpoint: unit %q not running here", unit)
	}
	id := u.ID()
	d.mu.Unlock()
	return d.commitOf(ctx, id)
}

// commitOf makes sure a checkpoint of id's process is requested and waits
// until id ended: nil if it committed, ErrAborted if it aborted. Waiting
// replies of several calls share one checkpoint (output commit, batched).
func (d *Driver) commitOf(ctx context.Context, id ru.ID) error {
	return d.awaitCommit(ctx, id, true)
}

// awaitCommit waits until id ended, as commitOf does; it asks for the
// checkpoint only when request is set (else the server loop does, at the
// end of the burst: groupcommit.go).
func (d *Driver) awaitCommit(ctx context.Context, id ru.ID, request bool) error {
	d.mu.Lock()
	for {
		if d.closed {
			d.mu.Unlock()
			return ErrClosed
		}
		if u := d.host.Unit(id.Name); u != nil {
			switch u.Outcome(id) {
			case ru.Committed:
				d.mu.Unlock()
				return nil
			case ru.Aborted:
				d.mu.Unlock()
				return fmt.Errorf("ru %s: %w", id, ErrAborted)
			}
			if request && !u.Wants() {
				u.Checkpoint()
				d.host.Touch(id.Name)
				envs, _ := d.flushLocked()
				d.mu.Unlock()
				d.send(envs)
				d.mu.Lock()
				continue
			}
		}
		ch := d.changed
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		d.mu.Lock()
	}
}

// outcome reports how RU id of a unit on this driver ended (Pending while
// it runs, or when the unit is not here).
func (d *Driver) outcome(id ru.ID) ru.Outcome {
	d.mu.Lock()
	defer d.mu.Unlock()
	if u := d.host.Unit(id.Name); u != nil {
		return u.Outcome(id)
	}
	return ru.Pending
}

// unitRU returns the current RU of a unit on this driver (zero when it is
// down or unknown).
func (d *Driver) unitRU(unit string) ru.ID {
	d.mu.Lock()
	defer d.mu.Unlock()
	if u := d.host.Unit(unit); u != nil {
		return u.ID()
	}
	return ru.ID{}
}
