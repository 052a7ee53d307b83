package servers

import (
	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/ftm-in-go/ftm/stm"
	"go.uber.org/zap"
)

// This file is the runner's executor: it carries out what a ru.Host's
// Ready says, in the order the Ready prescribes (precommit S, save the
// records in one transaction, then send, decide and apply), and calls
// Advance. Every fact it acts on is stated by the Ready; it infers none.

// flushLocked executes the host's Ready, restarts the units that crashed
// on the way and executes the Ready their restart made (a unit restarts
// once per flush: if it crashes again, the next step restarts it). It
// returns the envelopes to send once mu is released, and the units whose
// record could not be saved, with the error. mu held.
func (d *Driver) flushLocked() ([]ru.Envelope, map[string]error) {
	var out []ru.Envelope
	var unsaved map[string]error
	restarted, _ := d.restartCrashedLocked(nil)
	for {
		envs, failed := d.executeLocked(d.host.Ready())
		out = append(out, envs...)
		for name, err := range failed {
			if unsaved == nil {
				unsaved = map[string]error{}
			}
			unsaved[name] = err
		}
		var again bool
		if restarted, again = d.restartCrashedLocked(restarted); !again {
			break
		}
	}
	d.broadcastLocked()
	return out, unsaved
}

// executeLocked carries out one Ready. mu held.
func (d *Driver) executeLocked(rd ru.Ready) ([]ru.Envelope, map[string]error) {
	if len(rd.Units) == 0 {
		return nil, nil
	}
	parts := d.precommitLocked(rd.Units)
	parts, unsaved := d.saveLocked(parts)
	var envs []ru.Envelope
	for i := range parts {
		p := &parts[i]
		if d.crashAt(ru.FPAfterPersist, p.Unit) {
			continue // persisted, but the step's messages are lost
		}
		envs = d.host.Pack(envs, p.Msgs)
	}
	for i := range parts {
		d.applyLocked(&parts[i])
	}
	d.host.Advance(ru.Ready{Units: parts})
	return envs, unsaved
}

// crashAt hits failpoint point for unit; when it fires, the unit crashes
// (the next round of flushLocked restarts it).
func (d *Driver) crashAt(point, unit string) bool {
	if d.cfg.Fail == nil || d.host.Unit(unit) == nil {
		return false
	}
	if err := d.cfg.Fail.At(point, unit); err != nil {
		d.log.Debug("failpoint", zap.String("unit", unit), zap.Error(err))
		d.host.Crash(unit)
		return true
	}
	return false
}

// precommitLocked precommits the S of each part that asks for it into its
// action's group, before the record that says so is saved: the S of every
// unit of the Ready precommitting into one group go in one transaction
// (one round trip to the backup, however many units the host runs). A
// unit whose precommit fails, or that crashes around it, is dropped from
// the Ready; a failed transaction crashes every unit it carried.
func (d *Driver) precommitLocked(parts []ru.UnitReady) []ru.UnitReady {
	kept := parts[:0] // filtered in place: p is read before its slot is written
	for _, p := range parts {
		if p.Save != nil && d.crashAt(ru.FPBeforePersist, p.Unit) {
			continue
		}
		kept = append(kept, p)
	}
	var pcs []groupPrecommit
	for _, p := range kept {
		if ui := d.units[p.Unit]; !p.Precommit.IsZero() && ui != nil && ui.srv != nil {
			pcs = addPrecommit(pcs, groupOf(p.Precommit), p)
		}
	}
	for i := range pcs {
		d.precommitGroupLocked(&pcs[i])
	}
	parts, kept = kept, kept[:0]
	for _, p := range parts {
		if d.host.Unit(p.Unit) != nil {
			kept = append(kept, p)
		}
	}
	return kept
}

// groupPrecommit is the S of the units of one Ready precommitting into
// one STM group: one transaction.
type groupPrecommit struct {
	g     stm.GroupID
	parts []ru.UnitReady
}

// addPrecommit adds part p, precommitting into g, to its group's entry.
func addPrecommit(pcs []groupPrecommit, g stm.GroupID, p ru.UnitReady) []groupPrecommit {
	for i := range pcs {
		if pcs[i].g == g {
			pcs[i].parts = append(pcs[i].parts, p)
			return pcs
		}
	}
	return append(pcs, groupPrecommit{g: g, parts: []ru.UnitReady{p}})
}

// precommitGroupLocked writes the S of each unit of pc into one
// transaction and precommits it into the group; the units it carried
// crash if it fails. Then each unit passes FPAfterPrecommit. mu held.
func (d *Driver) precommitGroupLocked(pc *groupPrecommit) {
	tx := d.records.bank.Begin()
	var err error
	for i := 0; i < len(pc.parts) && err == nil; i++ {
		err = d.units[pc.parts[i].Unit].srv.writePrecommit(tx)
	}
	if err == nil {
		err = tx.Precommit(d.ctx, pc.g)
	}
	if err != nil {
		tx.Abort()
		for _, p := range pc.parts {
			d.log.Warn("precommit failed", zap.String("unit", p.Unit), zap.Error(err))
			d.host.Crash(p.Unit)
		}
		return
	}
	for _, p := range pc.parts {
		d.units[p.Unit].orphan = p.Precommit // until the record saying so is durable
		d.log.Debug("precommitted S", zap.String("unit", p.Unit), zap.Uint64("group", uint64(pc.g)))
		d.crashAt(FPAfterPrecommit, p.Unit)
	}
}

// saveLocked writes the records of the parts (and S where a part commits
// in one step) in one transaction. If it fails, nothing of it is stable:
// the parts that saved go to the host's SaveFailed and leave the Ready.
func (d *Driver) saveLocked(parts []ru.UnitReady) ([]ru.UnitReady, map[string]error) {
	var b recordBatch
	var err error
	for i := 0; i < len(parts) && err == nil; i++ {
		err = d.addSave(&b, &parts[i])
	}
	if err == nil {
		err = d.records.write(d.ctx, &b)
	}
	if err == nil {
		for i := range parts {
			if ui := d.units[parts[i].Unit]; ui != nil && parts[i].Save != nil {
				ui.orphan = ru.Action{} // the record names the group now
			}
		}
		return parts, nil
	}
	d.log.Warn("save failed", zap.Error(err))
	kept := parts[:0:0]
	unsaved := map[string]error{}
	for _, p := range parts {
		if p.Save == nil {
			kept = append(kept, p)
			continue
		}
		unsaved[p.Unit] = err
		d.host.SaveFailed(p)
	}
	return kept, unsaved
}

// addSave adds a part's record to the batch, and S with it when the RU
// committed in one step without a precommit.
func (d *Driver) addSave(b *recordBatch, p *ru.UnitReady) error {
	if p.Save == nil {
		return nil
	}
	if ui := d.units[p.Unit]; p.CommitS && ui != nil && ui.srv != nil {
		b.addState(ui.srv.commitState)
	}
	return d.records.addRecord(b, p.Save)
}

// applyLocked decides the part's groups and applies its RU ends to S. A
// unit crashed at a decide failpoint stops there: its restart finishes
// from the record. mu held.
func (d *Driver) applyLocked(p *ru.UnitReady) {
	ui := d.units[p.Unit]
	if ui == nil {
		return
	}
	for _, dc := range p.Decides {
		if ui.srv != nil && d.crashAt(FPBeforeDecide, p.Unit) {
			return
		}
		if err := d.records.decide(d.ctx, dc.Action, dc.Commit); err != nil {
			d.log.Warn("decide failed", zap.String("unit", ui.name), zap.Error(err))
		}
		if ui.srv != nil && d.crashAt(FPAfterDecide, p.Unit) {
			return
		}
	}
	for _, ev := range p.Events {
		d.applyEndLocked(ui, ev)
	}
}

// applyEndLocked applies the end of one RU to the server's S. mu held.
func (d *Driver) applyEndLocked(ui *unitInfo, ev ru.Event) {
	if ui.srv == nil || ev.Outcome == ru.Cancelled {
		return
	}
	d.log.Debug("ru ended", zap.Stringer("ru", ev.RU), zap.Stringer("outcome", ev.Outcome),
		zap.Stringer("action", ev.Action), zap.Bool("reload", ev.Reload))
	switch {
	case ev.Outcome == ru.Aborted:
		d.reloadLocked(ui, ui.srv.restarted)
	case ev.Reload:
		d.reloadLocked(ui, ui.srv.afterCheckpoint)
	default:
		ui.srv.afterCheckpoint()
	}
}

// reloadLocked rolls S back to its last committed version, now or when
// the call in progress ends. mu held.
func (d *Driver) reloadLocked(ui *unitInfo, hook func()) {
	d.log.Debug("reload", zap.String("unit", ui.name), zap.Bool("deferred", ui.srv.inCall()))
	if ui.srv.inCall() {
		ui.reload, ui.hook = true, hook
		return
	}
	ui.reload, ui.hook = false, nil
	if err := ui.srv.reloadState(d.ctx); err != nil {
		d.log.Warn("reload state failed", zap.String("unit", ui.name), zap.Error(err))
	}
	if hook != nil {
		hook()
	}
}

// restartCrashedLocked restarts, from the bank, the units that crashed and
// did not restart in this flush yet (restarted, allocated on the first
// restart). It reports whether it restarted any. mu held.
func (d *Driver) restartCrashedLocked(restarted map[string]bool) (map[string]bool, bool) {
	any := false
	for name, ui := range d.units {
		if d.host.Unit(name) != nil || restarted[name] {
			continue
		}
		if restarted == nil {
			restarted = map[string]bool{}
		}
		any, restarted[name] = true, true
		if err := d.restartLocked(ui); err != nil {
			d.log.Warn("restart failed", zap.String("unit", name), zap.Error(err))
		}
	}
	return restarted, any
}
