package servers

import (
	"context"
	"fmt"

	"github.com/ftm-in-go/ftm/servers/ru"
	"go.uber.org/zap"
)

// admit asks the server's unit to admit a call, waiting while the call is
// deferred (phase 2) or waits for the initiator's authorization (§4.2.2).
func (d *Driver) admit(ctx context.Context, name string, req request, owner interface{ setBusy(bool) }) (*ru.Unit, ru.ID, uint64, error) {
	d.mu.Lock()
	d.nextID++
	call := d.nextID
	d.learn(req.RU.Name, req.Host)
	for {
		if d.closed {
			d.mu.Unlock()
			return nil, ru.ID{}, 0, ErrClosed
		}
		u := d.host.Unit(name)
		if u != nil && u.Admit(call) == ru.Serve {
			owner.setBusy(true)
			id := u.ID()
			if ce := d.log.Check(zap.DebugLevel, "admitted"); ce != nil { // no field built when off: hot path
				ce.Write(zap.String("unit", name), zap.Stringer("ru", id), zap.Uint64("call", call),
					zap.String("client", req.Client), zap.Uint64("seq", req.Seq), zap.Stringer("phase", u.Phase()))
			}
			d.mu.Unlock()
			return u, id, call, nil
		}
		if u != nil {
			d.host.Touch(name)
			d.waits.Add(1)
		}
		envs := d.flushLocked()
		ch := d.changed
		d.mu.Unlock()
		d.send(envs)
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ru.ID{}, 0, ctx.Err()
		}
		d.mu.Lock()
	}
}

// endCall records the call's dependencies at this level (§4.1), persists
// the server's unit before the reply leaves, and ends the call. ok is
// false when the server's RU aborted during the call (S rolled back).
func (d *Driver) endCall(name string, u *ru.Unit, ruAt ru.ID, call uint64, req request, op Op,
	owner interface{ setBusy(bool) }) (deps ru.Deps, ok bool) {
	d.mu.Lock()
	owner.setBusy(false)
	ui := d.units[name]
	cur := d.host.Unit(name)
	switch {
	case ui == nil:
	case cur != u || u.ID() != ruAt: // aborted or restarted during the call
		d.outlivedLocked(ui, u, cur, ruAt, call)
	default:
		var changed bool
		deps, changed = recordDeps(u, op, req.RU)
		if changed {
			if err := d.persistLocked(name); err != nil {
				d.log.Warn("persist before reply failed", zap.Error(err))
				d.host.Crash(name)
				break
			}
		}
		before, running := u.ID(), u.Phase() == ru.Running
		u.CallEnded(call)
		ok = true
		if !changed && running && u.Phase() == ru.Running && u.ID() == before {
			// Nothing to save (the dependencies were recorded already),
			// nothing to send, nobody to wake: a call in a Running RU.
			u.MarkClean()
			d.mu.Unlock()
			return deps, ok
		}
		d.host.Touch(name)
	}
	envs := d.flushLocked()
	d.mu.Unlock()
	d.send(envs)
	return deps, ok
}

// outlivedLocked ends a call whose RU aborted, or whose unit restarted,
// while it ran: S is rolled back now that no call runs, and a restarted
// unit's stand-in for the call ends (pinCallLocked). mu held.
func (d *Driver) outlivedLocked(ui *unitInfo, u, cur *ru.Unit, ruAt ru.ID, call uint64) {
	d.log.Debug("call outlived its RU", zap.String("unit", ui.name), zap.Stringer("ru", ruAt),
		zap.Uint64("call", call), zap.Bool("restarted", cur != u), zap.Bool("reload", ui.reload))
	if cur == u {
		u.CallEnded(call)
		d.host.Touch(ui.name)
	}
	if ui.reload {
		d.reloadLocked(ui, ui.hook)
	}
	if cur != nil && cur != u && ui.pinned != 0 { // S is reloaded: the restarted unit may checkpoint
		cur.CallEnded(ui.pinned)
		ui.pinned = 0
		d.host.Touch(ui.name)
	}
}

// recordDeps applies the dependency rules of §4.1 for one call of op from
// client (zero: an external client) to the server's unit u, and reports
// whether that changed anything the unit must save before the reply.
func recordDeps(u *ru.Unit, op Op, client ru.ID) (deps ru.Deps, changed bool) {
	st := u.State()
	deps = ru.CallDeps(op, st.Modified)
	ext := client.IsZero()
	changed = u.Dirty() || (op == Update && !st.Modified) ||
		(!ext && deps.ServerToClient && !st.Succs[client]) || (!ext && deps.ClientToServer && !st.Preds[client])
	if op == Update {
		u.MarkModified()
	}
	if !ext {
		if deps.ServerToClient {
			u.AddSucc(client)
		}
		if deps.ClientToServer {
			u.AddPred(client)
		}
	}
	return deps, changed
}

// beginOut is the client side of a call: wait for the safe point (a top
// level call starts only while the unit is Running), record the call
// write-ahead and persist it before the request is sent (§4.2.4).
//
// A nested call (within a served call) is made in the RU the served call
// was admitted in (in): if that RU ended or the unit restarted meanwhile,
// the nested call fails with ErrAborted instead of running in a new RU,
// whose commit would then keep the effects of an aborted call.
//
// A top-level call first reports an abort of the RU seen at the end of the
// client's last call (ErrAborted, with the current RU as id).
func (d *Driver) beginOut(ctx context.Context, unit, server string, in *servedIn, seen ru.ID) (*ru.Unit, ru.ID, error) {
	nested := in != nil
	d.mu.Lock()
	for {
		if d.closed {
			d.mu.Unlock()
			return nil, ru.ID{}, ErrClosed
		}
		u := d.host.Unit(unit)
		if nested && (u != in.unit || u.ID() != in.ru) {
			d.mu.Unlock()
			return nil, ru.ID{}, fmt.Errorf("nested call from %s: %w", in.ru, ErrAborted)
		}
		if !nested && u != nil && !seen.IsZero() && u.ID() != seen && u.State().Aborted[seen.Inc] {
			id := u.ID()
			d.mu.Unlock()
			return nil, id, fmt.Errorf("servers: %s aborted since the last call: %w", seen, ErrAborted)
		}
		if u != nil && (nested || u.Phase() == ru.Running) {
			clean := !u.Dirty() && u.Phase() == ru.Running && d.units[unit].savedCalling[server]
			u.OutCallStarted(server)
			var err error
			if clean {
				u.MarkClean() // the saved state records a call to server already
			} else {
				err = d.persistLocked(unit)
			}
			if err != nil { // the request never leaves: undo, or the unit never gets quiescent again
				u.OutCallEnded(server, u.ID())
				d.host.Touch(unit)
			}
			id := u.ID()
			d.mu.Unlock()
			if err != nil {
				return nil, ru.ID{}, err
			}
			return u, id, nil
		}
		ch := d.changed
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ru.ID{}, ctx.Err()
		}
		d.mu.Lock()
	}
}

// servedIn is the RU a served call was admitted in.
type servedIn struct {
	unit *ru.Unit
	ru   ru.ID
}

// endOut records the reply's dependencies in the client's unit (before
// the call returns to the caller) and ends the call. It returns
// ErrAborted when the client's RU ended during the call.
func (d *Driver) endOut(unit string, u *ru.Unit, ruAt ru.ID, server string, rep *reply) error {
	d.mu.Lock()
	if rep != nil {
		d.learn(server, rep.Host)
	}
	executed := rep != nil && (rep.Status == statusOK || rep.Status == statusAppError)
	cur := d.host.Unit(unit)
	alive := cur == u && u.ID() == ruAt
	clean := alive && rep != nil && !u.Dirty() && u.Phase() == ru.Running
	switch {
	case executed && alive:
		st := u.State()
		if (rep.Deps.ServerToClient && !st.Preds[rep.ServerRU]) || (rep.Deps.ClientToServer && !st.Succs[rep.ServerRU]) {
			clean = false
		}
		if rep.Deps.ServerToClient {
			u.AddPred(rep.ServerRU)
		}
		if rep.Deps.ClientToServer {
			u.AddSucc(rep.ServerRU)
		}
	case executed && rep.Deps.ClientToServer && cur != nil:
		// The update came from an RU that is gone: the server's RU must
		// abort too (the conditional abort may have reached it before the
		// call). The abort wave of the old RU is extended to it.
		cur.AbortLate(ruAt, rep.ServerRU)
		d.host.Touch(unit)
	}
	var err error
	switch {
	case cur == u && clean:
		// No new dependency: the saved state already has everything but the
		// end of this call, which recovery does not need (ru.MarkClean).
		u.OutCallEnded(server, ruAt)
		if u.Phase() == ru.Running && u.ID() == ruAt {
			u.MarkClean() // and nothing to send or wake
			d.mu.Unlock()
			return nil
		}
		err = d.persistLocked(unit)
	case cur == u:
		u.OutCallEnded(server, ruAt)
		if rep == nil && alive {
			u.KeepCallRecord(server) // the server may still run it
		}
		err = d.persistLocked(unit)
	}
	envs := d.flushLocked()
	d.mu.Unlock()
	d.send(envs)
	if !alive {
		return fmt.Errorf("call %s: %w", server, ErrAborted)
	}
	return err
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
	d.mu.Lock()
	for {
		if d.closed {
			d.mu.Unlock()
			return ErrClosed
		}
		if u := d.host.Unit(id.Name); u != nil {
			st := u.State()
			if st.Inc > id.Inc {
				aborted := st.Aborted[id.Inc]
				d.mu.Unlock()
				if aborted {
					return fmt.Errorf("ru %s: %w", id, ErrAborted)
				}
				return nil
			}
			if !st.Want {
				u.Checkpoint()
				d.host.Touch(id.Name)
				envs := d.flushLocked()
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
	u := d.host.Unit(id.Name)
	if u == nil || u.State().Inc <= id.Inc {
		return ru.Pending
	}
	if u.State().Aborted[id.Inc] {
		return ru.Aborted
	}
	return ru.Committed
}
