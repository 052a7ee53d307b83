package pager

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/stretchr/testify/require"
)

const task = "t"

var (
	segNames = []string{"a", "b", "c"}
	segSizes = map[string]int{"a": 5 * rvm.DefaultPageSize, "b": 16 * rvm.DefaultPageSize, "c": 3*rvm.DefaultPageSize + 100}
)

// pageObjects lists the bank's page objects of pageSize-byte pages (STM-allocated ids).
func pageObjects(b *stm.Bank, pageSize int) map[stm.ID][]byte {
	out := map[stm.ID][]byte{}
	for id, v := range b.Dump() {
		if id >= stm.FirstAllocatedID && len(v) == 4+pageSize {
			out[id] = v
		}
	}
	return out
}

func digest(segs []*rvm.Segment) [][32]byte {
	out := make([][32]byte, len(segs))
	for i, s := range segs {
		out[i] = sha256.Sum256(s.Bytes())
	}
	return out
}

// round writes stamp into the first 8 bytes of every segment (the task's
// progress record) and fills a few random pages of each with bytes derived
// from the stamp.
func round(segs []*rvm.Segment, stamp int64) {
	rng := rand.New(rand.NewPCG(uint64(stamp), 7))
	for _, s := range segs {
		binary.LittleEndian.PutUint64(s.Bytes(), uint64(stamp))
		for range 1 + rng.IntN(3) {
			p := rng.IntN(s.Pages())
			pg := s.Bytes()[p*s.PageSize() : (p+1)*s.PageSize()]
			for i := range pg {
				pg[i] = byte(int64(i) * stamp)
			}
			if p == 0 {
				binary.LittleEndian.PutUint64(s.Bytes(), uint64(stamp))
			}
		}
	}
}

func stampOf(s *rvm.Segment) int64 { return int64(binary.LittleEndian.Uint64(s.Bytes())) }

func TestDirtyPagesSavedExactly(t *testing.T) {
	r := newRig(t)
	r.serve(task, "a")
	app := r.client("app")
	segs := newSegs(t, 0, segSizes, "a")
	s := segs[0]
	pg, err := New(app, task, Options{}, segs...)
	require.NoError(t, err)
	ps := s.PageSize()
	require.Equal(t, rvm.DefaultPageSize, ps)

	write := func(p int, b byte) { s.Bytes()[p*ps+17] = b }
	check := func(want map[int]byte, objects int) {
		t.Helper()
		objs := pageObjects(r.bank, ps)
		require.Len(t, objs, objects)
		found := map[int]bool{}
		for _, obj := range objs {
			for p, b := range want {
				if obj[4+17] == b && pageSum(UnitName(task, "a"), p, obj[4:]) == binary.LittleEndian.Uint32(obj) {
					found[p] = true
				}
			}
		}
		require.Len(t, found, len(want), "pages in STM %v", found)
	}
	write(1, 11)
	write(3, 33)
	write(4, 44)
	st, err := pg.Checkpoint(r.ctx)
	require.NoError(t, err)
	require.Equal(t, 3, st.Pages)
	check(map[int]byte{1: 11, 3: 33, 4: 44}, 3)

	st, err = pg.Checkpoint(r.ctx) // nothing written: nothing saved
	require.NoError(t, err)
	require.Equal(t, 0, st.Pages)
	check(map[int]byte{1: 11, 3: 33, 4: 44}, 3)

	write(3, 35) // a page saved before is overwritten in its object
	write(0, 7)
	write(0, 8) // twice: saved once
	st, err = pg.Checkpoint(r.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, st.Pages)
	check(map[int]byte{0: 8, 1: 11, 3: 35, 4: 44}, 4)
}

func TestRestoreByteIdenticalAfterRestartAndTakeover(t *testing.T) {
	for _, takeover := range []bool{false, true} {
		t.Run(fmt.Sprintf("takeover=%v", takeover), func(t *testing.T) {
			r := newRig(t)
			r.serve(task, segNames...)
			r.serveProgress()
			app := r.client("app")
			segs := newSegs(t, 0, segSizes, segNames...)
			pg, err := New(app, task, Options{ChunkPages: 2}, segs...)
			require.NoError(t, err)
			for stamp := int64(1); stamp <= 4; stamp++ {
				round(segs, stamp)
				_, err := setProgress.Call(r.ctx, app, stamp)
				require.NoError(t, err)
				_, err = pg.Checkpoint(r.ctx)
				require.NoError(t, err)
			}
			want := digest(segs)
			round(segs, 5) // dirtied after the checkpoint: gone after the crash
			_, err = setProgress.Call(r.ctx, app, 5)
			require.NoError(t, err)
			require.NotEqual(t, want, digest(segs))

			r.stopAll()
			if takeover {
				rep := r.takeover()
				require.Empty(t, rep.InDoubt)
			}
			r.serve(task, segNames...)
			r.serveProgress()
			app = r.client("app")
			segs = newSegs(t, 0, segSizes, segNames...)
			pg, err = New(app, task, Options{ChunkPages: 3}, segs...)
			require.NoError(t, err)
			require.NoError(t, pg.Restore(r.ctx))
			require.Equal(t, want, digest(segs))
			n, err := getProgress.Call(r.ctx, app, struct{}{})
			require.NoError(t, err)
			require.EqualValues(t, 4, n)
			for _, s := range segs {
				require.EqualValues(t, 4, stampOf(s))
			}
		})
	}
}

// TestAppAndSegmentsCommitTogether crashes segment b's unit at the driver's
// failpoints during checkpoints of an application RU that updates a
// progress server and three segments; with halt, the whole system (every
// driver, server and client) is dropped at that moment, in the middle of
// the atomic action. Whatever happens, a restart from the bank restores
// segments that all carry the same stamp, byte-identical to the memory
// checkpointed with that stamp, no older than the last acknowledged
// checkpoint, and the progress server agrees: no checkpoint where the
// segments and the application's progress disagree.
func TestAppAndSegmentsCommitTogether(t *testing.T) {
	points := []string{servers.FPAfterPrecommit, servers.FPBeforeDecide, servers.FPAfterDecide}
	for _, halt := range []bool{false, true} {
		for _, point := range points {
			fired := 0
			for n := 1; n <= 3; n++ {
				t.Run(fmt.Sprintf("halt=%v/%s/%d", halt, point, n), func(t *testing.T) {
					f := &oneCrash{point: point, unit: UnitName(task, "b"), n: n, hit: make(chan struct{})}
					commitScenario(t, f, halt)
					if f.fired() {
						fired++
					}
				})
			}
			require.Positive(t, fired, "failpoint %s never reached", point)
		}
	}
}

// commitScenario runs checkpoints of the application and its segments
// with f armed, crashes everything, restarts from the bank and checks the
// segments and the progress server agree on one checkpoint.
func commitScenario(t *testing.T, f *oneCrash, halt bool) {
	c := &commitRun{t: t, r: newRig(t), f: f, halt: halt}
	c.r.fail = f.fail
	c.startApp()
	c.images = map[int64][][32]byte{0: digest(c.segs)}
	for stamp := int64(1); stamp <= 6 && c.halted == nil; stamp++ {
		c.checkpointRound(stamp)
	}
	c.crashAll()
	c.r.fail = nil
	c.startApp()
	require.NoError(t, c.pg.Restore(c.r.ctx))
	got := c.checkRestored()
	t.Logf("fired=%v halted=%v lastOK=%d tried=%d restored=%d aborts=%d", f.fired(), c.halted != nil, c.lastOK, c.tried, got, c.aborts)
}

// commitRun is one run of commitScenario: the running application and
// what its checkpoints did.
type commitRun struct {
	t    *testing.T
	r    *rig
	f    *oneCrash
	halt bool // crash everything when f fires

	app  *servers.Client
	pg   *Pager
	segs []*rvm.Segment

	images        map[int64][][32]byte // the segments' digest at each stamp
	lastOK, tried int64                // last acknowledged checkpoint; last attempted
	aborts        int
	halted        chan error // the checkpoint cut by the crash, if one was
}

// startApp serves the segment units and the progress server and makes the
// application's client and pager over fresh segments.
func (c *commitRun) startApp() {
	c.r.serve(task, segNames...)
	c.r.serveProgress()
	c.app = c.r.client("app")
	c.segs = newSegs(c.t, 0, segSizes, segNames...)
	pg, err := New(c.app, task, Options{}, c.segs...)
	require.NoError(c.t, err)
	c.pg = pg
}

// checkpointRound stamps the segments, records the stamp as progress and
// checkpoints. With halt, a firing failpoint ends the run: the checkpoint
// it cut is left running in halted.
func (c *commitRun) checkpointRound(stamp int64) {
	round(c.segs, stamp)
	c.images[stamp], c.tried = digest(c.segs), stamp
	if _, err := setProgress.Call(c.r.ctx, c.app, stamp); err != nil {
		require.ErrorIs(c.t, err, servers.ErrAborted)
		c.aborts++
	}
	done := make(chan error, 1)
	go func() { _, err := c.pg.Checkpoint(c.r.ctx); done <- err }()
	var hit <-chan struct{}
	if c.halt {
		hit = c.f.hit
	}
	var err error
	select {
	case err = <-done:
	case <-hit:
		c.halted = done
		return
	}
	if err != nil {
		require.ErrorIs(c.t, err, servers.ErrAborted)
		c.aborts++
		return
	}
	c.lastOK = stamp
}

// crashAll drops every driver, server and client (what is left is the
// bank) and waits for a checkpoint the crash cut to return.
func (c *commitRun) crashAll() {
	c.r.stopAll()
	if c.halted == nil {
		return
	}
	select {
	case <-c.halted:
	case <-time.After(20 * time.Second):
		c.t.Fatal("a checkpoint cut by the crash never returned")
	}
}

// checkRestored checks the restored segments all carry one stamp, between
// the last acknowledged and the last attempted checkpoint, byte-identical to
// the memory checkpointed with it, and that the progress server agrees. It
// returns the stamp.
func (c *commitRun) checkRestored() int64 {
	t := c.t
	got := stampOf(c.segs[0])
	for _, s := range c.segs {
		require.Equal(t, got, stampOf(s), "segments restored from different checkpoints")
	}
	require.GreaterOrEqual(t, got, c.lastOK, "a committed checkpoint was lost")
	require.LessOrEqual(t, got, c.tried)
	require.Equal(t, c.images[got], digest(c.segs), "segments not byte-identical to checkpoint %d", got)
	n, err := getProgress.Call(c.r.ctx, c.app, struct{}{})
	require.NoError(t, err)
	require.Equal(t, got, n, "the application's progress and its segments disagree")
	return got
}

func TestCorruptPageDetected(t *testing.T) {
	r := newRig(t)
	r.serve(task, "a")
	app := r.client("app")
	segs := newSegs(t, 0, segSizes, "a")
	pg, err := New(app, task, Options{}, segs...)
	require.NoError(t, err)
	round(segs, 3)
	_, err = pg.Checkpoint(r.ctx)
	require.NoError(t, err)
	objs := pageObjects(r.bank, segs[0].PageSize())
	require.NotEmpty(t, objs)
	for id, v := range objs {
		bad := append([]byte(nil), v...)
		bad[100] ^= 1
		require.NoError(t, r.bank.Update(r.ctx, func(tx *stm.Tx) error { return tx.Put(id, bad) }))
		break
	}
	r.stopAll()
	r.serve(task, "a")
	app = r.client("app")
	segs = newSegs(t, 0, segSizes, "a")
	pg, err = New(app, task, Options{}, segs...)
	require.NoError(t, err)
	err = pg.Restore(r.ctx)
	require.ErrorIs(t, err, rvm.ErrCorruptPage)
}

func TestPageSizeConfigurable(t *testing.T) {
	r := newRig(t)
	h := r.host("p")
	const ps = 16 << 10
	srv, err := NewServer(Config{Task: task, Segment: "big", PageSize: ps, Driver: h.driver, Logger: r.log})
	require.NoError(t, err)
	r.run(h, srv.Name(), srv.Run)
	r.serve(task, "small") // default 8 KiB
	app := r.client("app")
	big := newSegs(t, ps, map[string]int{"big": 4 * ps}, "big")
	wrong := newSegs(t, ps, map[string]int{"small": 4 * ps}, "small")

	pg, err := New(app, task, Options{}, big...)
	require.NoError(t, err)
	big[0].Bytes()[3*ps+5] = 9
	st, err := pg.Checkpoint(r.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, st.Pages)
	require.Equal(t, ps, st.Bytes)

	pg2, err := New(app, task, Options{}, wrong...)
	require.NoError(t, err)
	wrong[0].Bytes()[0] = 1
	_, err = pg2.Checkpoint(r.ctx)
	var re *servers.RemoteError
	require.True(t, errors.As(err, &re), "err %v", err)
	require.Contains(t, re.Msg, "page size")
}

// TestDropDeletesThePagesWithTheAction: Drop deletes a task's page objects
// in one atomic action with its application RU; a restore then finds
// nothing.
func TestDropDeletesThePagesWithTheAction(t *testing.T) {
	r := newRig(t)
	r.serve(task, segNames...)
	app := r.client("app")
	segs := newSegs(t, 0, segSizes, segNames...)
	pg, err := New(app, task, Options{}, segs...)
	require.NoError(t, err)
	round(segs, 3)
	_, err = pg.Checkpoint(r.ctx)
	require.NoError(t, err)
	require.NotEmpty(t, pageObjects(r.bank, segs[0].PageSize()))
	require.NoError(t, pg.Drop(r.ctx))
	require.Empty(t, pageObjects(r.bank, segs[0].PageSize()))

	r.stopAll()
	r.serve(task, segNames...)
	app = r.client("app")
	segs = newSegs(t, 0, segSizes, segNames...)
	pg, err = New(app, task, Options{}, segs...)
	require.NoError(t, err)
	require.NoError(t, pg.Restore(r.ctx))
	for _, s := range segs {
		require.Equal(t, make([]byte, len(s.Bytes())), s.Bytes(), "segment %s", s.Name())
	}
	pages, err := ReadCommitted(r.ctx, r.bank, task, "a")
	require.NoError(t, err)
	require.Empty(t, pages)
}
