package servers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"

	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/ftm-in-go/ftm/stm"
)

// unitRecord is the stable object of one unit (saved in its own short
// transaction). Group and GroupInc repeat the state's precommit mark
// (ru.State.PC, PCInc) as an STM group, for PendingGroups.
type unitRecord struct {
	State    *ru.State
	Group    uint64 // the group S was last precommitted into
	GroupInc uint64 // the incarnation that precommitted it
}

func newUnitRecord(st *ru.State) unitRecord {
	rec := unitRecord{State: st}
	if st.PCInc != 0 {
		rec.Group, rec.GroupInc = uint64(groupOf(st.PC)), st.PCInc
	}
	return rec
}

// stableNames is the servers' STM namespace: "ru:<unit>" names a unit's
// record, "data:<server>" a server's state.
const stableNames = stm.Namespace("servers")

// The prefixes of the two kinds of names in stableNames.
const (
	recordPrefix = "ru:"
	statePrefix  = "data:"
)

func recordName(unit string) string  { return recordPrefix + unit }
func stateName(server string) string { return statePrefix + server }

// objectID returns the STM id bank binds to a stable name in the servers'
// namespace, bound in a short transaction of its own the first time (so a
// new name needs a bank with a backup; a known one does not).
func objectID(ctx context.Context, bank *stm.Bank, name string) (stm.ID, error) {
	id, err := stableNames.Resolve(ctx, bank, name)
	if err != nil {
		return 0, fmt.Errorf("servers: stable object %q: %w", name, err)
	}
	return id, nil
}

// groupOf maps an atomic action to its STM group (never 0).
func groupOf(a ru.Action) stm.GroupID {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%d\x00%d", a.Root.Name, a.Root.Inc, a.Seq)
	g := h.Sum64()
	if g == 0 {
		g = 1
	}
	return stm.GroupID(g)
}

// recordStore is the driver's stable storage in its STM bank: the records
// of its units, the server states that commit with them, and the groups
// it decided. It writes only what a Ready asks for, and a record only when
// its bytes changed since the last write (the write is idempotent).
//
// Concurrency: the driver's mu guards saved; decided has its own lock.
type recordStore struct {
	bank    *stm.Bank
	ids     map[string]stm.ID // unit → its record's object, bound at attach
	saved   map[string][]byte // unit → last record written or loaded
	decided decidedSet
}

func newRecordStore(bank *stm.Bank) *recordStore {
	return &recordStore{bank: bank, ids: map[string]stm.ID{}, saved: map[string][]byte{}}
}

// bind resolves the object of unit's record (binding its name the first
// time); the store reads and writes the record only after.
func (s *recordStore) bind(ctx context.Context, unit string) error {
	if _, ok := s.ids[unit]; ok {
		return nil
	}
	id, err := objectID(ctx, s.bank, recordName(unit))
	if err != nil {
		return err
	}
	s.ids[unit] = id
	return nil
}

// recordID is the object of a bound unit's record.
func (s *recordStore) recordID(unit string) (stm.ID, error) {
	id, ok := s.ids[unit]
	if !ok {
		return 0, fmt.Errorf("servers: unit %s has no bound record", unit)
	}
	return id, nil
}

// put is one object of a batched write: a unit's record.
type put struct {
	id   stm.ID
	b    []byte
	unit string
}

// recordBatch collects the writes of one Ready: one short STM transaction
// for all the units of a driver (§6.5's batching, applied to stable storage).
type recordBatch struct {
	puts   []put
	states []func(tx *stm.Tx) error // servers' S, written with the records
}

// addRecord adds a unit's record to b unless the store holds it already.
func (s *recordStore) addRecord(b *recordBatch, st *ru.State) error {
	enc, err := stm.Encode(newUnitRecord(st))
	if err != nil {
		return fmt.Errorf("servers: encode record of %s: %w", st.Name, err)
	}
	if bytes.Equal(enc, s.saved[st.Name]) {
		return nil
	}
	id, err := s.recordID(st.Name)
	if err != nil {
		return err
	}
	b.puts = append(b.puts, put{id: id, b: enc, unit: st.Name})
	return nil
}

// addState adds a server's state S to b: write puts it into the batch's
// transaction.
func (b *recordBatch) addState(write func(tx *stm.Tx) error) { b.states = append(b.states, write) }

// write commits b in one transaction; the records become the store's.
func (s *recordStore) write(ctx context.Context, b *recordBatch) error {
	if len(b.puts) == 0 && len(b.states) == 0 {
		return nil
	}
	err := s.bank.Update(ctx, func(tx *stm.Tx) error {
		for _, write := range b.states {
			if err := write(tx); err != nil {
				return err
			}
		}
		for _, p := range b.puts {
			if err := tx.Put(p.id, p.b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("servers: save records: %w", err)
	}
	for _, p := range b.puts {
		if p.unit != "" {
			s.saved[p.unit] = p.b
		}
	}
	return nil
}

// load reads a unit's record: ru.ErrNoState if it never saved one.
func (s *recordStore) load(name string) (*ru.State, error) {
	id, err := s.recordID(name)
	if err != nil {
		return nil, err
	}
	tx := s.bank.Begin()
	defer tx.Abort()
	b, err := tx.Bytes(id)
	if errors.Is(err, stm.ErrNotFound) {
		return nil, ru.ErrNoState
	}
	if err != nil {
		return nil, fmt.Errorf("servers: load unit %s: %w", name, err)
	}
	rec, err := decodeAny[unitRecord](b)
	if err != nil {
		return nil, fmt.Errorf("servers: load unit %s: %w", name, err)
	}
	if rec.State == nil || rec.State.Name != name {
		return nil, fmt.Errorf("servers: load unit %s: record names another unit", name)
	}
	s.saved[name] = b
	return rec.State, nil
}

// lastSaved decodes the last record written or loaded for unit (nil if none).
func (s *recordStore) lastSaved(unit string) *ru.State {
	rec, err := decodeAny[unitRecord](s.saved[unit])
	if err != nil {
		return nil
	}
	return rec.State
}

// storeLoader is the ru.Store of a driver: it loads a unit's record at
// restart (the ru.Host never writes). Called with the driver's mu held.
type storeLoader struct{ s *recordStore }

func (l storeLoader) Load(name string) (*ru.State, error) { return l.s.load(name) }

// decidedKept is how many decided groups are remembered per bank.
const decidedKept = 4096

// decidedSet remembers the groups a driver decided in its bank, so the
// members of an atomic action on one driver decide the group once: a
// second Decide would ship the decision to the backup again.
type decidedSet struct {
	mu    sync.Mutex // guards m, order
	m     map[stm.GroupID]bool
	order []stm.GroupID
}

// decide decides g in bank b unless it was decided the same way already.
func (s *decidedSet) decide(ctx context.Context, b *stm.Bank, g stm.GroupID, commit bool) error {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[stm.GroupID]bool{}
	}
	done, seen := s.m[g]
	s.mu.Unlock()
	if seen && done == commit {
		return nil
	}
	if err := b.Decide(ctx, g, commit); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[g]; !ok {
		s.order = append(s.order, g)
	}
	s.m[g] = commit
	for len(s.order) > decidedKept {
		delete(s.m, s.order[0])
		s.order = s.order[1:]
	}
	return nil
}

// decide decides the STM group of action a.
func (s *recordStore) decide(ctx context.Context, a ru.Action, commit bool) error {
	return s.decided.decide(ctx, s.bank, groupOf(a), commit)
}
