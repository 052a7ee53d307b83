package ru

import (
	"errors"
	"maps"
	"sync"
)

// Phase is where a recovery unit stands in the checkpoint protocol.
type Phase uint8

const (
	Running      Phase = iota // normal execution
	Building                  // phase 1, build_atomic_action
	Precommitted              // phase 2 done locally: waits for the decision
)

func (p Phase) String() string { return [...]string{"running", "building", "precommitted"}[p] }

type child struct {
	Act     Action // the action the child belongs to (its own, for an adopted root)
	Replied bool
	OK      bool
	Adopted bool // a merged initiator (add_dependency), not a wave child
	// Precommitted: it precommitted at the two-phase build (§8.2.1), so
	// phase 2 sends it nothing.
	Precommitted bool
	ThreePhase   bool // it answered the two-phase build with three-phase
}

// AbortEdge is one edge of the abort wave: the aborted RU and a successor
// (Inc 0: any RU of that process that depends on the aborted one).
type AbortEdge struct {
	From, To ID
}

type grantKey struct {
	Origin ID
	Call   uint64
}

type grant struct {
	Out bool   // granted and not yet returned by a Done (a returned one is kept: never granted twice)
	Act Action // the requester's action, to resend the grant
}

type authState uint8

const (
	authAsked authState = iota + 1
	authServe
	authDefer
)

type doneRec struct {
	To    ID
	Preds []ID
}

// State is everything a unit keeps in stable storage (the paper keeps it in
// STM, in short transactions independent of the RU's own transaction).
// Ready hands it out to be saved after every step that changed it, before
// any message of the step is sent.
type State struct {
	Name     string
	Inc      uint64
	Preds    idSet           // RUs the current RU depends on (predecessors)
	Succs    idSet           // RUs that depend on the current RU (successors)
	Modified bool            // the server state was updated in the current RU
	Aborted  map[uint64]bool // ended incarnations that aborted; every other ended one committed
	Want     bool            // a checkpoint was requested and the RU has not ended yet
	Seq      uint64          // attempts started by this unit as initiator

	Phase    Phase
	Act      Action // the action this unit joined (its own if it initiated)
	Parent   ID     // its node in the tree; zero for a root
	ParentAt Action // the action Parent was in when it took this unit
	Root     bool   // initiator of Act and not (yet) merged under another
	Acked    bool   // phase-1 ack sent up (or, for a merged root, adopted)
	Failed   bool
	Joining  Action // root waiting to be adopted by this smaller action
	Children map[ID]child
	Touched  actionSet          // actions met through negative acks (merge needed)
	Absorbed actionSet          // actions merged into this subtree
	Settled  actionSet          // touched actions known to have committed
	Grants   map[grantKey]grant // authorizations this node gave
	Auth     map[uint64]authState
	NewPreds idSet // predecessors added after the phase-1 ack
	PCWait   idSet // children whose precommit ack is awaited
	MustAbrt bool  // an abort wave reached this precommitted unit
	// TwoPhase (§8.2.1): at an initiator, the attempt asks its
	// predecessors to precommit at the build; at a member, it did so.
	TwoPhase bool

	// Kept across actions: a granter waits for Done even if this unit's
	// own attempt ended meanwhile.
	Granter map[uint64]ID // calls served under authorization → granter
	Done    map[uint64]doneRec

	AbortWait map[AbortEdge]bool // abort messages sent, until AbortAck
	Calling   map[string]int     // servers with an outgoing call in progress (write-ahead)

	// PC is the action into whose STM group a server unit's S was
	// precommitted, by incarnation PCInc (0: none). Kept until the group is
	// decided, so a restart decides a group whose decision this record
	// holds (PCInc < Inc) or waits for it (Precommitted).
	PC    Action
	PCInc uint64
}

func newState(name string) *State {
	s := &State{Name: name, Preds: idSet{}, Succs: idSet{}, Aborted: map[uint64]bool{},
		AbortWait: map[AbortEdge]bool{}, Granter: map[uint64]ID{}, Done: map[uint64]doneRec{},
		Calling: map[string]int{}}
	s.resetAction()
	return s
}

func (s *State) resetAction() {
	s.Phase, s.Act, s.Parent, s.Root, s.Acked, s.Failed = Running, Action{}, ID{}, false, false, false
	s.ParentAt = Action{}
	s.Joining = Action{}
	s.Children = map[ID]child{}
	s.Touched, s.Absorbed, s.Settled = actionSet{}, actionSet{}, actionSet{}
	s.Grants, s.Auth = map[grantKey]grant{}, map[uint64]authState{}
	s.NewPreds, s.PCWait = idSet{}, idSet{}
	s.MustAbrt, s.TwoPhase = false, false
}

// Clone deep-copies the state (maps; the slices inside are never mutated).
func (s *State) Clone() *State {
	c := *s
	c.Preds, c.Succs, c.Aborted = maps.Clone(s.Preds), maps.Clone(s.Succs), maps.Clone(s.Aborted)
	c.Children, c.Touched, c.Absorbed = maps.Clone(s.Children), maps.Clone(s.Touched), maps.Clone(s.Absorbed)
	c.Settled, c.Grants, c.Auth = maps.Clone(s.Settled), maps.Clone(s.Grants), maps.Clone(s.Auth)
	c.Granter, c.NewPreds, c.Done = maps.Clone(s.Granter), maps.Clone(s.NewPreds), maps.Clone(s.Done)
	c.PCWait, c.AbortWait = maps.Clone(s.PCWait), maps.Clone(s.AbortWait)
	c.Calling = maps.Clone(s.Calling)
	return &c
}

// ErrNoState is returned by Store.Load for a unit never saved.
var ErrNoState = errors.New("ru: no saved state")

// Store is the stable-storage seam as the Host sees it: it only loads, at
// Restart. Its owner (the driver, or a test harness) writes the records a
// Ready hands out; a write must be atomic: after a crash Load returns
// either the previous or the new state, never a mix.
type Store interface {
	Load(name string) (*State, error)
}

// MemStore is an in-memory Store for tests and simulations; it copies on
// Put and Load.
type MemStore struct {
	mu sync.Mutex        // guards m
	m  map[string]*State // name → last written state
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return &MemStore{m: map[string]*State{}} }

// Put stores a copy of s (the harness executing a Ready's Save).
func (m *MemStore) Put(s *State) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[s.Name] = s.Clone()
}

// Load returns a copy of the last written state of name.
func (m *MemStore) Load(name string) (*State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.m[name]
	if !ok {
		return nil, ErrNoState
	}
	return s.Clone(), nil
}

// outcome returns how an ended incarnation (inc < Inc) ended.
func (s *State) outcome(inc uint64) Outcome {
	if s.Aborted[inc] {
		return Aborted
	}
	return Committed
}
