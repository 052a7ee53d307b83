package pager

import (
	"bytes"
	"context"
	"encoding/binary"
	"maps"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// segRun drives a segment server's state the way the servers framework
// does, without a driver: calls, and precommits into STM groups that
// commit or are withdrawn.
type segRun struct {
	t    *testing.T
	s    *Server
	bank *stm.Bank
	st   segState
	g    stm.GroupID
}

func newSegRun(t *testing.T) *segRun {
	bank, _ := stmtest.Mirrored(t)
	s := &Server{cfg: Config{PageSize: 8}, name: UnitName("t", "seg"), bank: bank, log: zap.NewNop()}
	return &segRun{t: t, s: s, bank: bank, st: segState{PageSize: 8, IDs: map[int]uint64{}, Pending: map[int][]byte{}}}
}

func page(b byte) []byte { return bytes.Repeat([]byte{b}, 8) }

func (r *segRun) save(pages map[int][]byte) {
	_, err := r.s.save(nil, &r.st, saveReq{PageSize: 8, NPages: 4, Pages: pages})
	require.NoError(r.t, err)
}

// precommit runs the framework's precommit of S into a new group.
func (r *segRun) precommit() {
	r.g++
	r.s.beforeCheckpoint(&r.st)
	tx := r.bank.Begin()
	require.NoError(r.t, r.s.writePages(tx, &r.st))
	require.NoError(r.t, tx.Precommit(context.Background(), r.g))
}

// decide ends the group: committed (the AfterCheckpoint hook runs) or
// aborted as a withdrawn precommit is: the RU runs on, no hook runs.
func (r *segRun) decide(commit bool) {
	require.NoError(r.t, r.bank.Decide(context.Background(), r.g, commit))
	if commit {
		r.s.afterCheckpoint(&r.st)
	}
}

// committedPages reads the pages S lists from the bank, as a restore does.
func (r *segRun) committedPages() map[int][]byte {
	out := map[int][]byte{}
	err := r.bank.View(context.Background(), func(tx *stm.Tx) error {
		for p, id := range r.st.IDs {
			obj, err := tx.Bytes(stm.ID(id))
			if err != nil {
				return err
			}
			require.Equal(r.t, pageSum(r.s.name, p, obj[4:]), binary.LittleEndian.Uint32(obj), "page %d", p)
			out[p] = obj[4:]
		}
		return nil
	})
	require.NoError(r.t, err)
	return out
}

// TestWithdrawnPrecommitLeavesNoPageBehind: a precommit withdrawn (its
// two-phase attempt cancelled: its group aborted, the RU runs on) leaves
// S as it was before it, so the pages it carried commit with the RU's
// next checkpoint, and S never lists a page object that was never
// committed.
func TestWithdrawnPrecommitLeavesNoPageBehind(t *testing.T) {
	r := newSegRun(t)
	r.save(map[int][]byte{0: page(1), 1: page(1)})
	r.precommit()
	r.decide(true)

	r.save(map[int][]byte{1: page(2), 2: page(2)}) // page 2: a new object
	r.precommit()
	r.decide(false) // withdrawn

	r.save(map[int][]byte{3: page(3)})
	r.precommit()
	r.decide(true)
	require.Equal(t, map[int][]byte{0: page(1), 1: page(2), 2: page(2), 3: page(3)}, r.committedPages())
}

// TestWithdrawnDropIsMadeAgain: a drop withdrawn is made again at the
// RU's next checkpoint: the segment's page objects are deleted then.
func TestWithdrawnDropIsMadeAgain(t *testing.T) {
	r := newSegRun(t)
	r.save(map[int][]byte{0: page(1), 1: page(1)})
	r.precommit()
	r.decide(true)
	objs := maps.Clone(r.st.IDs)

	_, err := r.s.drop(nil, &r.st, struct{}{})
	require.NoError(t, err)
	r.precommit()
	r.decide(false) // withdrawn

	r.precommit()
	r.decide(true)
	require.Empty(t, r.st.IDs)
	require.NoError(t, r.bank.View(context.Background(), func(tx *stm.Tx) error {
		for p, id := range objs {
			ok, err := tx.Exists(stm.ID(id))
			require.NoError(t, err)
			require.False(t, ok, "page %d's object %d left behind", p, id)
		}
		return nil
	}))
}
