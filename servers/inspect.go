package servers

import (
	"maps"
	"slices"
	"sort"

	"github.com/ftm-in-go/ftm/servers/ru"
)

// UnitStatus is a read-only snapshot of one recovery unit of a driver, for
// operators (ftmctl ru). RU names are "name.inc".
type UnitStatus struct {
	Unit   string `json:"unit"`
	Server bool   `json:"server"` // a reliable server's unit; false: an application (client) unit
	// Up is false while the unit is crashed and waits for its restart
	// from the bank; the fields below are then those of its last saved
	// state, when it could be read.
	Up  bool   `json:"up"`
	RU  string `json:"ru"`
	Inc uint64 `json:"inc"`
	// Phase: running, building (phase 1 of a checkpoint) or precommitted.
	Phase string `json:"phase"`
	// Action is the atomic action (checkpoint attempt, "initiator#attempt")
	// the unit takes part in, "" while running; Root says it initiated it;
	// Parent is its node in the action's tree.
	Action string `json:"action,omitempty"`
	Root   bool   `json:"root,omitempty"`
	Parent string `json:"parent,omitempty"`
	// Want: a checkpoint was asked for and the RU has not ended yet.
	Want bool `json:"want,omitempty"`
	// Preds are the RUs the current RU depends on, Succs those depending on it.
	Preds    []string `json:"preds"`
	Succs    []string `json:"succs"`
	Modified bool     `json:"modified"` // the server's state was updated in this RU
	Busy     bool     `json:"busy,omitempty"`
	// Calling: servers this unit has an outgoing call to right now.
	Calling []string `json:"calling,omitempty"`
	// LastOutcome is how the previous RU of this unit ended (committed or
	// aborted), "" for a unit still in its first RU.
	LastOutcome string `json:"last_outcome,omitempty"`
}

// Edge is one dependency between recovery units: To depends on From (From
// is a predecessor of To): if From aborts, To must abort too, and a
// checkpoint of To commits From with it.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// DriverStatus is a snapshot of a driver: its units (by name) and the
// dependency edges their current RUs know of, both ways (an edge seen from
// either end is listed once).
type DriverStatus struct {
	Host      string       `json:"host"`
	Units     []UnitStatus `json:"units"`
	Edges     []Edge       `json:"edges"`
	Envelopes int64        `json:"envelopes"` // protocol envelopes sent
	Msgs      int64        `json:"msgs"`      // protocol messages inside them
}

// Inspect returns a copy of the driver's units and dependency graph. It
// takes the driver's lock for the time of the copy only.
func (d *Driver) Inspect() DriverStatus {
	ds := DriverStatus{Host: d.cfg.Host, Units: []UnitStatus{}, Edges: []Edge{}}
	ds.Envelopes, ds.Msgs = d.Stats()
	edges := map[Edge]bool{}
	d.mu.Lock()
	names := slices.Sorted(maps.Keys(d.units))
	for _, name := range names {
		ui := d.units[name]
		us := UnitStatus{Unit: name, Server: ui.srv != nil}
		if ui.srv != nil {
			us.Busy = ui.srv.inCall()
		}
		var st *ru.State
		if u := d.host.Unit(name); u != nil {
			us.Up, st = true, u.State()
		} else {
			st = d.records.lastSaved(name)
		}
		if st != nil {
			fillUnitStatus(&us, st, edges)
		}
		ds.Units = append(ds.Units, us)
	}
	d.mu.Unlock()
	for e := range edges {
		ds.Edges = append(ds.Edges, e)
	}
	sort.Slice(ds.Edges, func(i, j int) bool {
		a, b := ds.Edges[i], ds.Edges[j]
		if a.From != b.From {
			return a.From < b.From
		}
		return a.To < b.To
	})
	return ds
}

// fillUnitStatus copies what operators see of st into us and adds the
// unit's edges. The driver's mu is held: st is only read.
func fillUnitStatus(us *UnitStatus, st *ru.State, edges map[Edge]bool) {
	self := ru.ID{Name: st.Name, Inc: st.Inc}
	us.RU, us.Inc = self.String(), st.Inc
	us.Phase, us.Want, us.Modified = st.Phase.String(), st.Want, st.Modified
	if st.Phase != ru.Running {
		us.Action, us.Root = st.Act.String(), st.Root
		if !st.Parent.IsZero() {
			us.Parent = st.Parent.String()
		}
	}
	us.Preds, us.Succs = idStrings(st.Preds), idStrings(st.Succs)
	for _, p := range us.Preds {
		edges[Edge{From: p, To: us.RU}] = true
	}
	for _, q := range us.Succs {
		edges[Edge{From: us.RU, To: q}] = true
	}
	us.Calling = slices.Sorted(maps.Keys(st.Calling))
	if st.Inc > 1 {
		us.LastOutcome = ru.Committed.String()
		if st.Aborted[st.Inc-1] {
			us.LastOutcome = ru.Aborted.String()
		}
	}
}

func idStrings[M ~map[ru.ID]bool](m M) []string {
	out := make([]string, 0, len(m))
	for id, ok := range m {
		if ok {
			out = append(out, id.String())
		}
	}
	sort.Strings(out)
	return out
}
