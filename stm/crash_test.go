package stm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync/atomic"
	"testing"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/stretchr/testify/require"
)

// errInjected is what an armed failpoint returns.
var errInjected = errors.New("injected crash")

// failAt returns a failpoint hook that crashes at point once armed.
func failAt(point string, armed *atomic.Bool) failpoint.Hook {
	return func(p, _ string) error {
		if p == point && armed.Load() {
			armed.Store(false)
			return errInjected
		}
		return nil
	}
}

var (
	oldState = map[ID]string{1: "old1", 2: "old2"}
	newState = map[ID]string{1: "new1", 2: "new2"}
)

// runStandalone commits one transaction writing objects 1 and 2.
func runStandalone(ctx context.Context, b *Bank) error {
	return b.Update(ctx, func(tx *Tx) error {
		if err := tx.Put(1, []byte("new1")); err != nil {
			return err
		}
		return tx.Put(2, []byte("new2"))
	})
}

// runGroup precommits two transactions (one per object) into group 5 and
// decides commit.
func runGroup(ctx context.Context, b *Bank) error {
	for id := ID(1); id <= 2; id++ {
		tx := b.Begin()
		if err := tx.Put(id, fmt.Appendf(nil, "new%d", id)); err != nil {
			return err
		}
		if err := tx.Precommit(ctx, 5); err != nil {
			return err
		}
	}
	return b.Decide(ctx, 5, true)
}

type crashCase struct {
	point   string
	group   bool
	want    map[ID]string // what the survivor holds once resolved
	inDoubt int           // members of group 5 the survivor finds in phase 2
	decide  bool          // the group decision the test supplies after takeover
}

// Reference: §3.3, Figure 5 — "failure of the primary machine in working
// phase or phase 1: the transaction is aborted ... in phase 2: the backup
// machine ... resumes waiting for the group decision ... in phase 3: the
// backup machine can complete the phase."
func TestFig5PrimaryCrashAtEveryPhaseBoundary(t *testing.T) {
	cases := []crashCase{
		{point: FPValidated, want: oldState},
		{point: FPPhase1Shipped, want: newState},
		{point: FPPhase3Applied, want: newState},
		{point: FPValidated, group: true, want: oldState},
		// t1 shipped, t2 never began phase 1: no decision was ever taken,
		// so the initiator aborts the group.
		{point: FPPhase1Shipped, group: true, want: oldState, inDoubt: 1, decide: false},
		{point: FPPhase2Decided, group: true, want: newState, inDoubt: 2, decide: true},
		{point: FPPhase3Shipped, group: true, want: newState},
		{point: FPPhase3Applied, group: true, want: newState},
	}
	for _, remote := range []bool{false, true} {
		for _, c := range cases {
			t.Run(caseName(c, remote), func(t *testing.T) { primaryCrashCase(t, c, remote) })
		}
	}
}

func caseName(c crashCase, remote bool) string {
	prefix := "local/"
	if remote {
		prefix = "remote/"
	}
	if c.group {
		return prefix + "group/" + c.point
	}
	return prefix + "alone/" + c.point
}

// crashAt builds a pair whose primary (or, onBackup, whose backup) fails
// at c.point, commits the old state, and runs the case's transaction into
// the failure: it returns the pair and what the run said, having checked
// that the failpoint was reached.
func crashAt(t *testing.T, c crashCase, remote, onBackup bool) (*pair, error) {
	var armed atomic.Bool
	cfg, kcfg := Config{}, BackupConfig{}
	if onBackup {
		kcfg.Failpoint = failAt(c.point, &armed)
	} else {
		cfg.Failpoint = failAt(c.point, &armed)
	}
	p := newPairOver(t, remote, cfg, kcfg)
	put(t, p.b, 1, "old1")
	put(t, p.b, 2, "old2")
	armed.Store(true)
	run := runStandalone
	if c.group {
		run = runGroup
	}
	err := run(context.Background(), p.b)
	require.False(t, armed.Load(), "failpoint %s never reached", c.point)
	return p, err
}

// requireServesWithNewBackup attaches a new backup to b, commits one more
// object and checks that the new backup holds want and that object.
func requireServesWithNewBackup(t *testing.T, b *Bank, want map[ID]string) {
	t.Helper()
	k2 := NewBackup(BackupConfig{})
	require.NoError(t, b.Attach(context.Background(), NewLocalMirror(k2)))
	put(t, b, 3, "after")
	want = maps.Clone(want)
	want[3] = "after"
	require.Equal(t, want, strMap(k2.Dump()))
}

func primaryCrashCase(t *testing.T, c crashCase, remote bool) {
	ctx := context.Background()
	p, err := crashAt(t, c, remote, false)
	require.ErrorIs(t, err, ErrCrashed)

	p.waitBackupAlone()
	nb, rep, err := p.k.Takeover(ctx, Config{})
	require.NoError(t, err)
	require.Len(t, rep.InDoubt[5], c.inDoubt)
	if c.inDoubt > 0 {
		// Old versions are visible and the in-doubt objects stay locked.
		require.Equal(t, oldState, strMap(nb.Dump()))
		require.NoError(t, nb.Attach(ctx, NewLocalMirror(NewBackup(BackupConfig{}))))
		err := nb.Update(ctx, func(tx *Tx) error { return tx.Put(1, nil) })
		require.ErrorIs(t, err, ErrConflict)
		require.NoError(t, nb.Decide(ctx, 5, c.decide))
	}
	require.Equal(t, c.want, strMap(nb.Dump()))
	// The stale primary is fenced and the survivor works normally.
	require.Error(t, runStandalone(ctx, p.b))
	requireServesWithNewBackup(t, nb, c.want)
}

// Reference: §3.3 — "failure of the backup machine ... does not affect the
// primary machine": a transaction whose phase 1 did not get the backup's
// acknowledgement is aborted (commit refused); a decision that reached the
// primary stands, and the primary keeps serving once a new backup joins.
func TestFig5BackupCrashAtEveryPhaseBoundary(t *testing.T) {
	cases := []struct {
		crashCase
		errIs error
	}{
		{crashCase{point: FPBackupPrepareReceived, want: oldState}, ErrNoBackup},
		{crashCase{point: FPBackupPrepareStored, want: oldState}, ErrNoBackup},
		{crashCase{point: FPBackupPrepareReceived, group: true, want: oldState}, ErrNoBackup},
		{crashCase{point: FPBackupPrepareStored, group: true, want: oldState}, ErrNoBackup},
		{crashCase{point: FPBackupDecideReceived, group: true, want: newState}, ErrBackupLost},
		{crashCase{point: FPBackupDecideApplied, group: true, want: newState}, ErrBackupLost},
	}
	for _, remote := range []bool{false, true} {
		for _, c := range cases {
			t.Run(caseName(c.crashCase, remote), func(t *testing.T) { backupCrashCase(t, c.crashCase, c.errIs, remote) })
		}
	}
}

func backupCrashCase(t *testing.T, c crashCase, errIs error, remote bool) {
	ctx := context.Background()
	p, err := crashAt(t, c, remote, true)
	require.ErrorIs(t, err, errIs)
	if c.group && errIs == ErrNoBackup {
		// The group cannot commit; the initiator aborts it from the
		// primary's old versions.
		require.NoError(t, p.b.Decide(ctx, 5, false))
	}
	require.Equal(t, c.want, strMap(p.b.Dump()))
	require.Empty(t, p.b.Stats().Running)
	require.ErrorIs(t, runStandalone(ctx, p.b), ErrNoBackup, "no commit without a backup")
	requireServesWithNewBackup(t, p.b, c.want)
}
