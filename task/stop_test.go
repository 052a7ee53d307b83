package task

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// A stopped task ends failed with ErrStopped, recorded in its bank: a
// takeover lists it so and does not run it again; an ended or unknown
// task is not stopped.
func TestStopEndsARunningTaskForGood(t *testing.T) {
	bank, backup := stmtest.Mirrored(t)
	ctx, crash := context.WithCancel(context.Background())
	s := NewServer(ctx, ServerConfig{Node: "a", Programs: map[string]Program{"sum": sum}, Policy: Policy{Percent: 50}, Logger: zaptest.NewLogger(t)})
	_, err := s.Start(context.Background(), Bank{Name: "a", STM: bank}, "sum", []string{"100000000000"})
	require.NoError(t, err)
	_, err = s.Start(context.Background(), Bank{Name: "a", STM: bank}, "sum", []string{"3"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { l := s.List(); return len(l) == 2 && l[1].State == StateDone }, 20*time.Second, time.Millisecond)

	rec, err := s.Stop(context.Background(), "a", 1)
	require.NoError(t, err)
	require.Equal(t, StateFailed, rec.State)
	require.Equal(t, ErrStopped.Error(), rec.Error)
	require.Equal(t, StateFailed, s.List()[0].State)
	_, err = s.Stop(context.Background(), "a", 1)
	require.ErrorIs(t, err, ErrNotRunning)
	_, err = s.Stop(context.Background(), "a", 2)
	require.ErrorIs(t, err, ErrNotRunning)
	_, err = s.Stop(context.Background(), "a", 9)
	require.ErrorIs(t, err, ErrNoTask)
	crash()
	s.Wait()

	ctx2, stop2 := context.WithCancel(context.Background())
	s2 := NewServer(ctx2, ServerConfig{Node: "b", Programs: map[string]Program{"sum": sum}, Logger: zaptest.NewLogger(t)})
	s2.Resume(context.Background(), Bank{Name: "a", STM: stmtest.Survivor(t, backup)})
	l := s2.List()
	require.Len(t, l, 2)
	require.Equal(t, StateFailed, l[0].State, "the stopped task is not restarted after a takeover")
	require.Equal(t, ErrStopped.Error(), l[0].Error)
	stop2()
	s2.Wait()
}

// A stop refused for want of a backup changes nothing: the task runs on.
func TestStopWithoutBackupLeavesTheTaskRunning(t *testing.T) {
	bank := stm.NewBank(stm.Config{})
	lm := stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{}))
	require.NoError(t, bank.Attach(context.Background(), lm))
	ctx, crash := context.WithCancel(context.Background())
	s := NewServer(ctx, ServerConfig{Node: "a", Programs: map[string]Program{"sum": sum}, Logger: zaptest.NewLogger(t)})
	_, err := s.Start(context.Background(), Bank{Name: "a", STM: bank}, "sum", []string{"100000000000"})
	require.NoError(t, err)
	lm.Cut()
	_, err = s.Stop(context.Background(), "a", 1)
	require.ErrorIs(t, err, stm.ErrNoBackup)
	require.Equal(t, StateRunning, s.List()[0].State)
	crash()
	s.Wait()
}

// A checkpoint's stats carry the total work the task declared, so a
// viewer can draw done of total.
func TestStatsCarryTheTotalWork(t *testing.T) {
	bank, _ := stmtest.Mirrored(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	s := NewServer(ctx, ServerConfig{Node: "a", Programs: map[string]Program{"sum": sum}, Policy: Policy{Percent: 50}, Logger: zaptest.NewLogger(t)})
	_, err := s.Start(context.Background(), Bank{Name: "a", STM: bank}, "sum", []string{"1000"})
	require.NoError(t, err)
	rec := waitState(t, s, StateDone)
	require.Equal(t, int64(1000), rec.Stats.Total)
	require.Positive(t, rec.Stats.LastProgress)
	stop()
	s.Wait()
}
