package servers

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
	"github.com/stretchr/testify/require"
)

// objState is a state with collections: a Map, a Log and a plain field.
type objState struct {
	M Map[string, int64]
	L Log[string]
	N int64
}

// coded is the same state with a hand-written StateCodec.
type coded struct {
	M Map[string, int64]
	L Log[string]
	N int64
}

func (c *coded) AppendState(b []byte) ([]byte, error) {
	b, _ = Int64Codec.Append(b, c.N)
	return c.L.AppendHeader(c.M.AppendHeader(b)), nil
}

func (c *coded) DecodeState(b []byte) (err error) {
	if c.N, b, err = Int64Codec.Read(b); err != nil {
		return err
	}
	if b, err = c.M.ReadHeader(b); err != nil {
		return err
	}
	_, err = c.L.ReadHeader(b)
	return err
}

// objRig drives one server's state through the paths the driver takes
// (precommit into a group, lone commit, decide, reload after an abort or a
// crash, restart as a new process) without the protocol, on a mirrored
// bank, and keeps a model of what it must hold.
type objRig[S any] struct {
	t    *testing.T
	ctx  context.Context
	bank *stm.Bank
	srv  *Server[S]
	view func(*S) (*Map[string, int64], *Log[string], *int64)

	cur, com       map[string]int64 // the model: in memory, committed
	curLog, comLog []string
	curN, comN     int64
	trimmed        int // entries trimmed from the front of curLog's indexes
	comTrim        int
	group          stm.GroupID
}

func newObjRig[S any](t *testing.T, init func() S, view func(*S) (*Map[string, int64], *Log[string], *int64)) *objRig[S] {
	ctx := context.Background()
	bank, _ := stmtest.Mirrored(t)
	r := &objRig[S]{t: t, ctx: ctx, bank: bank, view: view, cur: map[string]int64{}, com: map[string]int64{}}
	r.srv = r.start(init)
	return r
}

// start runs a server over the bank as a new process would: S reloaded.
func (r *objRig[S]) start(init func() S) *Server[S] {
	srv, err := NewServer(Config{Name: "objs"}, init)
	require.NoError(r.t, err)
	srv.cfg.Driver = &Driver{cfg: DriverConfig{Bank: r.bank}}
	srv.dataID, err = objectID(r.ctx, r.bank, stateName("objs"))
	require.NoError(r.t, err)
	require.NoError(r.t, srv.reloadState(r.ctx))
	return srv
}

// change makes one random update of a handler.
func (r *objRig[S]) change(rng *rand.Rand) {
	m, l, n := r.view(&r.srv.st.State)
	k := fmt.Sprint("k", rng.IntN(40))
	switch op := rng.IntN(10); {
	case op < 5:
		v := rng.Int64N(1000)
		m.Set(k, v)
		r.cur[k] = v
	case op < 7:
		m.Delete(k)
		delete(r.cur, k)
	case op < 9:
		v := fmt.Sprint("e", rng.IntN(1000))
		l.Append(v)
		r.curLog = append(r.curLog, v)
	default:
		d := min(rng.IntN(3), len(r.curLog))
		l.TrimFront(d)
		r.curLog, r.trimmed = r.curLog[d:], r.trimmed+d
	}
	*n++
	r.curN++
}

func (r *objRig[S]) commitModel() {
	r.com, r.comLog, r.comN, r.comTrim = maps.Clone(r.cur), slices.Clone(r.curLog), r.curN, r.trimmed
}

func (r *objRig[S]) revertModel() {
	r.cur, r.curLog, r.curN, r.trimmed = maps.Clone(r.com), slices.Clone(r.comLog), r.comN, r.comTrim
}

// commitAlone is a lone initiator's commit: S written with the record.
func (r *objRig[S]) commitAlone() {
	require.NoError(r.t, r.bank.Update(r.ctx, r.srv.commitState))
	r.srv.afterCheckpoint()
	r.commitModel()
}

// precommit puts S into a new group, left undecided.
func (r *objRig[S]) precommit() stm.GroupID {
	r.group++
	require.NoError(r.t, r.srv.precommitState(r.ctx, r.group))
	return r.group
}

func (r *objRig[S]) decide(g stm.GroupID, commit bool) {
	require.NoError(r.t, r.bank.Decide(r.ctx, g, commit))
}

// step runs one of the paths at random.
func (r *objRig[S]) step(rng *rand.Rand, init func() S) string {
	switch rng.IntN(8) {
	case 0:
		r.commitAlone()
		return "commit alone"
	case 1:
		r.decide(r.precommit(), true)
		r.srv.afterCheckpoint()
		r.commitModel()
		return "precommit, commit"
	case 2:
		r.decide(r.precommit(), false)
		require.NoError(r.t, r.srv.reloadState(r.ctx))
		r.revertModel()
		return "precommit, abort"
	case 3:
		r.decide(r.precommit(), false) // a cancelled attempt: S stays, a later one writes it again
		return "precommit, cancelled"
	case 4:
		require.NoError(r.t, r.srv.reloadState(r.ctx))
		r.revertModel()
		return "abort while running"
	case 5:
		r.srv.crashed()
		require.NoError(r.t, r.srv.reloadState(r.ctx))
		r.revertModel()
		return "crash"
	case 6:
		r.srv = r.start(init)
		r.revertModel()
		return "restart in a new process"
	default:
		return r.crashWhilePrecommitted()
	}
}

// crashWhilePrecommitted: S precommitted, the unit crashes (S restored
// from the committed version), then the group commits and S is reloaded
// (ru.Event.Reload).
func (r *objRig[S]) crashWhilePrecommitted() string {
	g := r.precommit()
	r.srv.crashed()
	require.NoError(r.t, r.srv.reloadState(r.ctx))
	r.requireHolds(r.com, r.comLog, r.comN, "restored while precommitted")
	r.decide(g, true)
	r.commitModel()
	require.NoError(r.t, r.srv.reloadState(r.ctx))
	r.srv.afterCheckpoint()
	return "crash while precommitted, commit, reload"
}

// requireHolds checks the server's S against a model.
func (r *objRig[S]) requireHolds(want map[string]int64, log []string, n int64, after string) {
	r.t.Helper()
	m, l, gotN := r.view(&r.srv.st.State)
	got := map[string]int64{}
	for k, v := range m.All() {
		got[k] = v
	}
	require.Equal(r.t, want, got, "map after %s", after)
	require.Equal(r.t, len(want), m.Len())
	gotLog := []string{}
	for _, v := range l.All() {
		gotLog = append(gotLog, v)
	}
	require.Equal(r.t, append([]string{}, log...), gotLog, "log after %s", after)
	require.Equal(r.t, n, *gotN, "plain field after %s", after)
}

// A Map and a Log against a plain map and slice, through random updates
// and every path S takes: lone commit, precommit then commit or abort, a
// cancelled attempt, an abort while running, a crash, a restart, a crash
// while precommitted. After each, S holds exactly what the model says,
// and a new process loading the bank holds exactly the committed part.
func TestCollectionsAgainstAModel(t *testing.T) {
	t.Run("msgpack", func(t *testing.T) {
		init := func() objState { return objState{} }
		runModel(t, init, func(s *objState) (*Map[string, int64], *Log[string], *int64) { return &s.M, &s.L, &s.N })
	})
	t.Run("StateCodec", func(t *testing.T) {
		init := func() coded { return coded{} }
		runModel(t, init, func(s *coded) (*Map[string, int64], *Log[string], *int64) { return &s.M, &s.L, &s.N })
	})
}

func runModel[S any](t *testing.T, init func() S, view func(*S) (*Map[string, int64], *Log[string], *int64)) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			r := newObjRig(t, init, view)
			for i := range 150 {
				for range rng.IntN(6) {
					r.change(rng)
				}
				what := r.step(rng, init)
				r.requireHolds(r.cur, r.curLog, r.curN, fmt.Sprintf("step %d (%s)", i, what))
				if i%25 == 0 {
					fresh := r.start(init)
					saved := r.srv
					r.srv = fresh
					r.requireHolds(r.com, r.comLog, r.comN, fmt.Sprintf("a new process at step %d", i))
					r.srv = saved
				}
			}
		})
	}
}
