package pager

import (
	"maps"
	"reflect"

	"go.uber.org/zap"
)

// A precommit changes S beyond what the RU did: writePages turns the
// pending pages into page objects (their ids into IDs, Pending emptied)
// and deletePages empties a dropped segment. Those changes hold only if
// the precommit's group commits. Its group can also be aborted while the
// RU runs on — a precommit withdrawn because the initiator cancelled its
// two-phase attempt (it fell back to three phases, or a member failed) —
// and then the framework neither reloads S nor runs a hook: S would list
// page objects never committed and have lost the pages it carried (a
// later checkpoint commits that S, and the next restore fails with "no
// such object"). So the server remembers what the last precommit
// changed (staged) until the group is decided: a commit
// (AfterCheckpoint) or an abort of the RU (Restart, S reloaded) forgets
// it; the next checkpoint of S (BeforeCheckpoint, before a precommit or
// a commit alone) that still finds it knows that precommit was
// withdrawn, and undoes it first. Calls in between need no undo: a save
// only adds pending pages (newer than the withdrawn ones), a drop
// empties them.

// staged is what one precommit changed in S.
type staged struct {
	ids     map[int]uint64 // the IDs map the precommit changed: S was not reloaded since while S still holds it
	created map[int]uint64 // pages given a new page object
	pending map[int][]byte // the pages the precommit wrote
	// drop: the precommit deleted a dropped segment; its page objects and
	// page count before.
	drop     bool
	dropIDs  map[int]uint64
	dropPage int
}

// newStaged notes S before a precommit writes its pending pages.
func newStaged(st *segState) *staged {
	return &staged{ids: st.IDs, created: map[int]uint64{}, pending: maps.Clone(st.Pending)}
}

// dropped notes S before a precommit deletes the dropped segment.
func (g *staged) dropped(st *segState) {
	g.drop, g.dropIDs, g.dropPage = true, maps.Clone(st.IDs), st.NPages
}

// sameMap reports whether a and b are one map (not equal contents).
func sameMap(a, b map[int]uint64) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// undoWithdrawn puts S back as it was before the last precommit when that
// precommit's group was aborted while the RU ran on (a withdrawn
// precommit): its new page ids leave IDs and its pages are pending again,
// except those saved again since.
func (s *Server) undoWithdrawn(st *segState) {
	g := s.staged
	s.staged = nil
	if g == nil || !sameMap(g.ids, st.IDs) { // none, or S reloaded since
		return
	}
	for p, id := range g.created {
		if st.IDs[p] == id {
			delete(st.IDs, p)
		}
	}
	if g.drop {
		maps.Copy(st.IDs, g.dropIDs)
		st.NPages, st.Drop = g.dropPage, true
	}
	for p, img := range g.pending {
		if _, newer := st.Pending[p]; !newer {
			st.Pending[p] = img
		}
	}
	if len(g.created) > 0 || len(g.pending) > 0 || g.drop {
		s.modified.Store(true) // its saves are not checkpointed
		s.log.Debug("precommit withdrawn: its pages are pending again",
			zap.Int("pages", len(g.pending)), zap.Int("created", len(g.created)), zap.Bool("drop", g.drop))
	}
}

// beforeCheckpoint (the BeforeCheckpoint hook) undoes a withdrawn
// precommit before S is written again.
func (s *Server) beforeCheckpoint(st *segState) {
	fillMaps(st)
	s.undoWithdrawn(st)
}

// afterCheckpoint (the AfterCheckpoint hook): the checkpoint committed,
// with what its precommit changed.
func (s *Server) afterCheckpoint(*segState) {
	s.staged = nil
	s.modified.Store(false)
}

// restarted (the Restart hook): S was reloaded from STM.
func (s *Server) restarted(st *segState) {
	s.staged = nil
	s.modified.Store(false)
	fillMaps(st)
}
