package task

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/servers/pager"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
	"github.com/ftm-in-go/ftm/task/tasktest"
)

// grow fills a 512-page segment one page per step, like the primes
// program (a new page at each checkpoint), with its progress in a second
// segment and its job in the heap: three units in each checkpoint.
func grow(ctx context.Context, t *Task, _ []string) (string, error) {
	const pages, pageSize = 512, 8192
	data, err := t.Segment(ctx, "data", pages*pageSize)
	if err != nil {
		return "", err
	}
	pseg, err := t.Segment(ctx, "progress", 64)
	if err != nil {
		return "", err
	}
	p, err := rvm.View[struct{ Next int64 }](pseg, 0)
	if err != nil {
		return "", err
	}
	job, err := Object[struct{ N int64 }](ctx, t, "job")
	if err != nil {
		return "", err
	}
	job.N = pages
	b := data.Bytes()
	for i := int64(0); i < p.Next; i++ { // what was restored is one checkpoint
		if b[i*pageSize] != byte(i+1) {
			return "", fmt.Errorf("page %d not restored with progress %d", i, p.Next)
		}
	}
	for p.Next < pages {
		b[p.Next*pageSize] = byte(p.Next + 1)
		p.Next++
		t.Progress(p.Next, pages)
		if err := t.Poll(ctx); err != nil {
			return "", err
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Sprint(p.Next), nil
}

// TestStopAndResumeOnTheSameNodeTwice stops a recovery-unit task (Abandon,
// as a lapsed lease does) with checkpoints in flight and resumes it on the
// same node and driver, twice in quick succession, many times: each resume
// restores the task's last committed checkpoint and the task runs to its
// end.
func TestStopAndResumeOnTheSameNodeTwice(t *testing.T) {
	u := tasktest.NewUnits(t)
	hold := &holdAt{point: pager.FPSavesSent, hit: make(chan struct{}, 1)}
	s := NewServer(context.Background(), ServerConfig{Node: "a", Programs: map[string]Program{"grow": grow},
		Policy: Policy{Every: time.Millisecond}, Logger: zaptest.NewLogger(t), Units: u, Failpoint: hold.at})
	bank := Bank{Name: "a", STM: u.Bank}
	_, err := s.Start(context.Background(), bank, "grow", nil)
	require.NoError(t, err)
	for round := 0; round < 60; round++ {
		require.Eventually(t, func() bool {
			l := s.List()
			return len(l) == 1 && (l[0].State != StateRunning || l[0].Stats.Checkpoints >= 1)
		}, 20*time.Second, time.Millisecond)
		if s.List()[0].State != StateRunning {
			break
		}
		for i := 0; i < 2 && s.List()[0].State == StateRunning; i++ {
			if i == 0 || round%2 == 0 { // stopped between its pages' saves and their commit
				hold.wait(time.Duration(round*7%60) * time.Millisecond)
			}
			stopAndResume(t, s, bank)
			time.Sleep(time.Duration((round+i)%4) * time.Millisecond)
		}
	}
	requireGrewAll(t, s)
}

// requireCommittedReadable checks that what the bank holds of the
// segments of task 1 of bank "a" is one readable checkpoint: every page
// object a segment's unit lists exists (a group still in doubt may hide
// it for now: stm.ErrConflict).
func requireCommittedReadable(t *testing.T, bank *stm.Bank) {
	t.Helper()
	for _, seg := range []string{"data", "progress", "heap"} {
		_, err := pager.ReadCommitted(context.Background(), bank, UnitName("a", 1), seg)
		if !errors.Is(err, stm.ErrConflict) {
			require.NoError(t, err, "segment %s", seg)
		}
	}
}

// waitEnded waits until s's one task has ended and returns its record.
func waitEnded(t *testing.T, s *Server) Record {
	t.Helper()
	var rec Record
	require.Eventually(t, func() bool {
		rec = s.List()[0]
		return rec.State != StateRunning
	}, 60*time.Second, 5*time.Millisecond)
	return rec
}

// holdAt holds the next checkpoint armed at point for a while, after
// telling the test it is there.
type holdAt struct {
	point string
	armed atomic.Bool
	hit   chan struct{}
}

// wait arms h, waits until a checkpoint reaches its point (or a second,
// for a task that ended) and then for d more, into the atomic action.
func (h *holdAt) wait(d time.Duration) {
	h.armed.Store(true)
	select {
	case <-h.hit:
	case <-time.After(time.Second):
	}
	time.Sleep(d)
}

func (h *holdAt) at(point, _ string) error {
	if point == h.point && h.armed.CompareAndSwap(true, false) {
		h.hit <- struct{}{}
	}
	return nil
}

// flakyMirror is a backup that can be cut off: while down, every exchange
// with it fails as a lost link does.
type flakyMirror struct {
	stm.Mirror
	down *atomic.Bool
}

var errCut = errors.New("test: backup cut off")

func (m flakyMirror) Prepare(ctx context.Context, p *stm.Prepare) error {
	if m.down.Load() {
		return errCut
	}
	return m.Mirror.Prepare(ctx, p)
}

func (m flakyMirror) Decide(ctx context.Context, d *stm.Decision) error {
	if m.down.Load() {
		return errCut
	}
	return m.Mirror.Decide(ctx, d)
}

// oneDriver is task.Units over one driver of bank.
type oneDriver struct{ d *servers.Driver }

func (o oneDriver) Driver(string) *servers.Driver { return o.d }

func newOneDriver(t *testing.T, bank *stm.Bank, fail failpoint.Hook) oneDriver {
	node := kernel.NewNode(kernel.Config{Name: "n1"})
	kt, err := node.NewTask("servers/b")
	require.NoError(t, err)
	d, err := servers.NewDriver(servers.DriverConfig{Host: "b", Task: kt, Bank: bank, Names: names.NewKernel(kt, zap.NewNop()),
		TickPeriod: 50 * time.Millisecond, Fail: fail, Logger: zaptest.NewLogger(t).Named("driver")})
	require.NoError(t, err)
	d.Start()
	t.Cleanup(func() { d.Close(); kt.Terminate(); node.Shutdown() })
	return oneDriver{d: d}
}

func TestResumeAfterRefusedCheckpointsRestores(t *testing.T) {
	var down, lapsed atomic.Bool
	bank := stm.NewBank(stm.Config{Alone: func() error {
		if lapsed.Load() {
			return errCut
		}
		return nil
	}})
	protect := func() {
		require.NoError(t, bank.Attach(context.Background(), flakyMirror{Mirror: stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{})), down: &down}))
	}
	protect()
	u := newOneDriver(t, bank, nil)
	s := NewServer(context.Background(), ServerConfig{Node: "a", Programs: map[string]Program{"grow": grow},
		Policy: Policy{Every: time.Millisecond}, Logger: zaptest.NewLogger(t), Units: u})
	b := Bank{Name: "a", STM: bank}
	_, err := s.Start(context.Background(), b, "grow", nil)
	require.NoError(t, err)
	for round := 0; round < 20 && s.List()[0].State == StateRunning; round++ {
		time.Sleep(time.Duration(5+round*3%20) * time.Millisecond)
		down.Store(true) // the bank commits alone under the lease, which lapses a while
		time.Sleep(time.Duration(5+round*7%30) * time.Millisecond)
		lapsed.Store(true)
		time.Sleep(time.Duration(1+round%4) * time.Millisecond)
		lapsed.Store(false)
		time.Sleep(time.Duration(5+round*3%10) * time.Millisecond)
		down.Store(false)
		protect()
		time.Sleep(time.Duration(round*5%20) * time.Millisecond)
		if s.List()[0].State != StateRunning {
			break
		}
		stopAndResume(t, s, b)
	}
	requireGrewAll(t, s)
}

// TestCheckpointsWithAFailedMemberRestore crashes the progress segment's
// unit just after it precommitted, at every fifth checkpoint: the others,
// precommitted too, withdraw, and their units run on. Each stop and
// resume on the same node then restores one checkpoint, and the task
// ends with every page.
func TestCheckpointsWithAFailedMemberRestore(t *testing.T) {
	bank, _ := stmtest.Mirrored(t)
	var n atomic.Int64
	u := newOneDriver(t, bank, func(point, unit string) error {
		if point == servers.FPAfterPrecommit && unit == pager.UnitName(UnitName("a", 1), "progress") && n.Add(1)%5 == 0 {
			return failpoint.ErrCrash
		}
		return nil
	})
	s := NewServer(context.Background(), ServerConfig{Node: "a", Programs: map[string]Program{"grow": grow},
		Policy: Policy{Every: time.Millisecond}, Logger: zaptest.NewLogger(t), Units: u})
	b := Bank{Name: "a", STM: bank}
	_, err := s.Start(context.Background(), b, "grow", nil)
	require.NoError(t, err)
	for round := 0; round < 20 && s.List()[0].State == StateRunning; round++ {
		time.Sleep(time.Duration(20+round*7%30) * time.Millisecond)
		if s.List()[0].State != StateRunning {
			break
		}
		stopAndResume(t, s, b)
	}
	requireGrewAll(t, s)
}

// stopAndResume stops the one task of b on this node (as a lost lease
// does), checks every committed page of b is readable, and resumes it.
func stopAndResume(t *testing.T, s *Server, b Bank) {
	t.Helper()
	require.Equal(t, 1, s.Abandon(b.STM))
	requireCommittedReadable(t, b.STM)
	s.Resume(context.Background(), b)
}

// requireGrewAll waits for s's task to end and checks it ended done with
// every page grown.
func requireGrewAll(t *testing.T, s *Server) {
	t.Helper()
	done := waitEnded(t, s)
	require.Equal(t, StateDone, done.State, done.Error)
	require.Equal(t, "512", done.Result)
}
