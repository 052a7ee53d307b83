package pair

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/kernel/heartbeat"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/stm"
)

// A long heartbeat timeout: a loaded test machine must not see false
// deaths; real deaths here are link losses, detected at once.
var testHB = heartbeat.Config{Period: 20 * time.Millisecond, Timeout: 3 * time.Second}

// member is one pair member (Node + Stable) running in this process; crash
// stops it as a machine crash would: no takeover on its side, state gone.
type member struct {
	name   string
	st     *Stable
	cancel context.CancelFunc
	done   chan struct{}
}

// testNet hands out the partner links: memNet, or scriptNet with faults.
type testNet interface {
	Listener
	dial(ctx context.Context, addr string) (link.Link, error)
}

func startMember(t *testing.T, net testNet, name string, resolve func(context.Context, string, stm.GroupID) bool) *member {
	return startMemberCfg(t, net, StableConfig{Name: name, Resolve: resolve})
}

// startProtectedPair starts alpha (configured by sc) and beta, and waits
// until each node's own bank is backed up by the other.
func startProtectedPair(t *testing.T, net testNet, sc StableConfig) (*member, *member) {
	t.Helper()
	a := startMemberCfg(t, net, sc)
	b := startMember(t, net, "beta", nil)
	waitFor(t, a, "own bank protected", protects([]string{"alpha"}, []string{"beta"}))
	waitFor(t, b, "own bank protected", protects([]string{"beta"}, []string{"alpha"}))
	return a, b
}

func startMemberCfg(t *testing.T, net testNet, sc StableConfig) *member {
	t.Helper()
	name := sc.Name
	partner := map[string]string{"alpha": "beta", "beta": "alpha"}[name]
	log := zaptest.NewLogger(t).Named(name)
	sc.PartnerName, sc.Logger = partner, log
	st, err := NewStable(sc)
	require.NoError(t, err)
	cfg := Config{Name: name, PartnerName: partner, Heartbeat: testHB, Hooks: st.Hooks(), Logger: log, Redial: 10 * time.Millisecond}
	if name < partner {
		cfg.PartnerAddr, cfg.Dial = "mem", net.dial
	} else {
		cfg.Listener = net
	}
	n, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: name, st: st, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(m.done); _ = n.Run(ctx) }()
	return m
}

func (m *member) crash() {
	m.cancel()
	<-m.done
	_ = m.st.Close()
}

func (n *memNet) setRefuse(v bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.refuse = v
}

// waitFor polls m's status until ok holds (a condition, not a time bound).
func waitFor(t *testing.T, m *member, what string, ok func(StableStatus) bool) StableStatus {
	t.Helper()
	var st StableStatus
	require.Eventually(t, func() bool { st = m.st.Status(); return ok(st) }, 15*time.Second, 2*time.Millisecond,
		"%s: %s; last status %+v", m.name, what, st)
	return st
}

// protects reports whether st shows exactly these primaries, all attached,
// and these backups, all ready.
func protects(primaries, backups []string) func(StableStatus) bool {
	return func(st StableStatus) bool {
		var p, b []string
		for _, bs := range st.Banks {
			switch {
			case bs.Role == RoleBackup && bs.Ready:
				b = append(b, bs.Name)
			case bs.Role != RoleBackup && bs.Mirror == MirrorAttached:
				p = append(p, bs.Name)
			default:
				return false
			}
		}
		return fmt.Sprint(p) == fmt.Sprint(primaries) && fmt.Sprint(b) == fmt.Sprint(backups)
	}
}

// model is what a bank must hold: the values of reported commits.
type model map[stm.ID][]byte

// batch is n objects, ids from..from+n-1, each written as tag-id.
type batch struct {
	tag     string
	from, n int
}

// commit writes the batch in one transaction per object and records each
// value in md once its commit is reported.
func commit(t *testing.T, b *stm.Bank, md model, w batch) {
	t.Helper()
	for i := w.from; i < w.from+w.n; i++ {
		id, v := stm.ID(i), []byte(fmt.Sprintf("%s-%d", w.tag, i))
		require.NoError(t, b.Update(context.Background(), func(tx *stm.Tx) error { return tx.Put(id, v) }))
		md[id] = v
	}
}

// put is one object's new value.
type put struct {
	id stm.ID
	v  string
}

// inDoubt leaves a transaction of group g in phase 2 on b (its initiator
// dies before deciding): it writes p, never reported committed.
func inDoubt(t *testing.T, b *stm.Bank, g stm.GroupID, p put) {
	t.Helper()
	tx := b.Begin()
	require.NoError(t, tx.Put(p.id, []byte(p.v)))
	require.NoError(t, tx.Precommit(context.Background(), g))
}

func dump(b *stm.Bank) model {
	if b == nil {
		return nil
	}
	return model(b.Dump())
}

// Reference: §2.2 and §3.3 (Figure 5) — each node of a stable pair is
// primary for its bank and backup for its partner's; the survivor of a
// crash holds exactly the partner's committed state (in-doubt groups
// resolved), a restarted node becomes the new backup of both banks, and a
// second failure after that re-protection is survived too.
func TestStablePairTakeoverReprotectSecondFailure(t *testing.T) {
	net := newMemNet()
	a, b := startProtectedPair(t, net, StableConfig{Name: "alpha"})

	ma, mb := model{}, model{}
	commit(t, a.st.Own(), ma, batch{"a1", 1, 20})
	commit(t, b.st.Own(), mb, batch{"b1", 1, 30})
	commit(t, b.st.Own(), mb, batch{"b1bis", 5, 3}) // overwrite some
	inDoubt(t, b.st.Own(), 7, put{1000, "never reported"})

	// beta's machine dies: alpha takes its bank over.
	net.setRefuse(true)
	b.crash()
	st := waitFor(t, a, "beta's bank taken over", func(st StableStatus) bool { return st.Takeovers == 1 })
	require.Equal(t, "beta", st.LastTakeover.Bank)
	require.Equal(t, 1, st.LastTakeover.InDoubt)
	require.Equal(t, 0, st.LastTakeover.Committed)
	require.Equal(t, mb, dump(a.st.Bank("beta")), "survivor holds exactly beta's reported commits")
	require.Equal(t, ma, dump(a.st.Own()))
	// No backup, no commit (the project's choice), on both banks now held.
	for _, name := range []string{"alpha", "beta"} {
		err := a.st.Bank(name).Update(context.Background(), func(tx *stm.Tx) error { return tx.Put(1, []byte("x")) })
		require.ErrorIs(t, err, stm.ErrNoBackup, name)
	}

	// beta restarts empty: it becomes the backup of both banks.
	net.setRefuse(false)
	b = startMember(t, net, "beta", nil)
	waitFor(t, a, "both banks re-protected", protects([]string{"alpha", "beta"}, nil))
	waitFor(t, b, "backup of both banks", protects(nil, []string{"alpha", "beta"}))
	require.Nil(t, b.st.Own(), "the restarted node's empty bank yields to the taken-over copy")
	commit(t, a.st.Own(), ma, batch{"a2", 15, 10})
	commit(t, a.st.Bank("beta"), mb, batch{"b2", 25, 10})
	inDoubt(t, a.st.Own(), 9, put{2000, "never reported either"})

	// Second failure: alpha dies; beta takes over both banks.
	net.setRefuse(true)
	a.crash()
	st = waitFor(t, b, "both banks taken over", func(st StableStatus) bool { return st.Takeovers == 2 })
	require.Equal(t, "beta", st.LastTakeover.Bank)
	require.Equal(t, uint64(3), st.LastTakeover.Epoch, "beta's bank: epoch 1, taken over twice")
	require.Equal(t, uint64(2), b.st.Bank("alpha").Epoch())
	require.Equal(t, ma, dump(b.st.Bank("alpha")), "alpha's in-doubt group aborted, reported commits kept")
	require.Equal(t, mb, dump(b.st.Bank("beta")))

	// A fresh alpha protects both again; commits resume.
	net.setRefuse(false)
	a = startMember(t, net, "alpha", nil)
	waitFor(t, b, "re-protected again", protects([]string{"alpha", "beta"}, nil))
	commit(t, b.st.Bank("alpha"), ma, batch{"a3", 100, 2})
	waitFor(t, a, "backup of both", protects(nil, []string{"alpha", "beta"}))
	a.crash()
	b.crash()
}

// Reference: §3.3 phase 2 — a group found in doubt by the takeover is
// decided by its initiator (StableConfig.Resolve); committed, its writes
// are in the survivor's bank.
func TestStableTakeoverResolvesInDoubtByHook(t *testing.T) {
	net := newMemNet()
	resolve := func(_ context.Context, bank string, g stm.GroupID) bool { return bank == "beta" && g == 7 }
	a, b := startProtectedPair(t, net, StableConfig{Name: "alpha", Resolve: resolve})
	mb := model{}
	commit(t, b.st.Own(), mb, batch{"b", 1, 5})
	inDoubt(t, b.st.Own(), 7, put{50, "commit me"})
	inDoubt(t, b.st.Own(), 8, put{51, "abort me"})
	net.setRefuse(true)
	b.crash()
	st := waitFor(t, a, "taken over", func(st StableStatus) bool { return st.Takeovers == 1 })
	require.Equal(t, 2, st.LastTakeover.InDoubt)
	require.Equal(t, 1, st.LastTakeover.Committed)
	mb[50] = []byte("commit me")
	require.Equal(t, mb, dump(a.st.Bank("beta")))
	a.crash()
}

// Reference: fencing (doc.go) — a partition (the link cut, both nodes alive)
// makes each side take the other's bank over; on relinking each bank goes
// to its copy with the higher epoch, the stale copy is closed, no bank is
// held twice, nothing reported committed is lost, and commits resume.
func TestStablePartitionNeverYieldsTwoHistories(t *testing.T) {
	net := newMemNet()
	a, b := startProtectedPair(t, net, StableConfig{Name: "alpha"})
	ma, mb := model{}, model{}
	commit(t, a.st.Own(), ma, batch{"a", 1, 10})
	commit(t, b.st.Own(), mb, batch{"b", 1, 10})
	oldA, oldB := a.st.Own(), b.st.Own()

	net.cutAll() // both live: each declares the other dead, then alpha redials
	waitFor(t, a, "relinked and protected", func(st StableStatus) bool {
		return st.Takeovers == 1 && protects([]string{"beta"}, []string{"alpha"})(st)
	})
	waitFor(t, b, "relinked and protected", func(st StableStatus) bool {
		return st.Takeovers == 1 && protects([]string{"alpha"}, []string{"beta"})(st)
	})
	// Each stale copy was closed: it can never commit again.
	for _, old := range []*stm.Bank{oldA, oldB} {
		err := old.Update(context.Background(), func(tx *stm.Tx) error { return tx.Put(1, []byte("stale")) })
		require.Error(t, err)
	}
	require.Equal(t, ma, dump(b.st.Bank("alpha")))
	require.Equal(t, mb, dump(a.st.Bank("beta")))
	commit(t, b.st.Bank("alpha"), ma, batch{"a2", 5, 3})
	commit(t, a.st.Bank("beta"), mb, batch{"b2", 5, 3})
	a.crash()
	b.crash()
}

// Reference: fencing (doc.go) — both sides compute the same owner for every
// bank from the two inventories.
func TestResolveIsSymmetric(t *testing.T) {
	cases := []struct {
		a, b      []bankClaim
		wantAKeep []string
	}{
		{a: []bankClaim{{"alpha", 1, 0}}, b: []bankClaim{{"beta", 1, 0}}, wantAKeep: []string{"alpha"}},
		{a: []bankClaim{{"alpha", 2, 9}, {"beta", 2, 3}}, b: []bankClaim{{"beta", 1, 0}}, wantAKeep: []string{"alpha", "beta"}},
		{a: []bankClaim{{"alpha", 1, 5}, {"beta", 2, 3}}, b: []bankClaim{{"alpha", 2, 5}, {"beta", 1, 7}}, wantAKeep: []string{"beta"}},
		{a: []bankClaim{{"alpha", 3, 5}}, b: []bankClaim{{"alpha", 3, 6}}, wantAKeep: nil},
		{a: []bankClaim{{"beta", 3, 5}}, b: []bankClaim{{"beta", 3, 5}}, wantAKeep: nil}, // tie: the owner
		{a: []bankClaim{{"gamma", 9, 9}}, b: nil, wantAKeep: nil},                        // not a bank of this pair
	}
	for i, c := range cases {
		pa := resolve("alpha", "beta", c.a, c.b)
		pb := resolve("beta", "alpha", c.b, c.a)
		require.Equal(t, c.wantAKeep, pa.keep, "case %d", i)
		require.Equal(t, pa.keep, pb.serve, "case %d: beta backs up what alpha keeps", i)
		require.Equal(t, pb.keep, pa.serve, "case %d: alpha backs up what beta keeps", i)
		for _, n := range pa.keep {
			require.NotContains(t, pb.keep, n, "case %d: bank held twice", i)
		}
	}
}

func TestHelloRoundTripAndGarbage(t *testing.T) {
	h := hello{Node: "alpha", Banks: []bankClaim{{"alpha", 4, 77}}}
	body, err := encodeHello(h)
	require.NoError(t, err)
	got, err := decodeHello(body)
	require.NoError(t, err)
	require.Equal(t, h, got)
	_, err = decodeHello([]byte{0xc1, 0x00})
	require.ErrorIs(t, err, ErrHello)

	// A partner whose first STM frame is not a hello is refused.
	x, y := link.NewMemPair("alpha", "beta", link.MemConfig{})
	defer x.Close()
	defer y.Close()
	ctx := context.Background()
	go func() { _ = y.Send(ctx, link.Frame{Service: link.ServiceSTM, Kind: 1}) }()
	_, err = exchangeHello(ctx, x, h)
	require.ErrorIs(t, err, ErrHello)
	_, _ = y.Recv(ctx)
}

func TestStableConfigErrors(t *testing.T) {
	for _, c := range []StableConfig{{}, {Name: "a"}, {Name: "a", PartnerName: "a"}} {
		_, err := NewStable(c)
		require.True(t, errors.Is(err, ErrStableConfig), "%+v", c)
	}
}

// Reference: §3.3 — beta crashes in the middle of a stream of concurrent
// commits on both banks: alpha's takeover holds every commit beta reported
// and at most the one in flight per writer (it reached the backup, its
// reply did not come back); alpha's own bank holds exactly its reported
// commits (the ones refused for want of a backup were aborted).
func TestStableCrashDuringConcurrentCommits(t *testing.T) {
	net := newMemNet()
	a, b := startProtectedPair(t, net, StableConfig{Name: "alpha"})

	const writers = 3
	type result struct {
		bank string
		id   stm.ID
		last int // last value reported committed (0: none)
	}
	results := make(chan result, 2*writers)
	started := make(chan struct{}, 2*writers)
	write := func(bank *stm.Bank, name string, id stm.ID) {
		last := 0
		for v := 1; ; v++ {
			err := bank.Update(context.Background(), func(tx *stm.Tx) error { return tx.Put(id, []byte(fmt.Sprint(v))) })
			if err != nil {
				break
			}
			if last = v; v == 10 {
				started <- struct{}{}
			}
		}
		results <- result{name, id, last}
	}
	for w := range writers {
		go write(b.st.Own(), "beta", stm.ID(w+1))
		go write(a.st.Own(), "alpha", stm.ID(w+1))
	}
	for range 2 * writers {
		<-started
	}
	net.setRefuse(true)
	b.crash()
	waitFor(t, a, "taken over", func(st StableStatus) bool { return st.Takeovers == 1 })
	var rs []result
	for range 2 * writers {
		rs = append(rs, <-results) // every writer has stopped
	}
	got := map[string]model{"alpha": dump(a.st.Own()), "beta": dump(a.st.Bank("beta"))}
	for _, r := range rs {
		v := string(got[r.bank][r.id])
		ok := v == fmt.Sprint(r.last) || (r.bank == "beta" && v == fmt.Sprint(r.last+1))
		require.True(t, ok, "bank %s object %d holds %q, last reported commit %d", r.bank, r.id, v, r.last)
		delete(got[r.bank], r.id)
	}
	require.Empty(t, got["alpha"])
	require.Empty(t, got["beta"])
	a.crash()
}
