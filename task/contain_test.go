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

// boom panics once the other task has started, with its argument.
func boom(started <-chan struct{}) Program {
	return func(ctx context.Context, t *Task, args []string) (string, error) {
		<-started
		panic("boom: " + args[0])
	}
}

// A task's panic fails that task: it is recorded as failed with the value
// (what ps shows), and another task of the same server runs to its end.
func TestTaskPanicFailsOnlyThatTask(t *testing.T) {
	bank, _ := stmtest.Mirrored(t)
	started := make(chan struct{})
	slowSum := func(ctx context.Context, tk *Task, args []string) (string, error) {
		close(started)
		time.Sleep(20 * time.Millisecond) // still running when the other one panics
		return sum(ctx, tk, args)
	}
	s := NewServer(context.Background(), ServerConfig{Node: "n", Logger: zaptest.NewLogger(t),
		Programs: map[string]Program{"sum": slowSum, "boom": boom(started)}, Policy: Policy{Percent: 10}})
	b := Bank{Name: "n", STM: bank}
	_, err := s.Start(context.Background(), b, "boom", []string{"bad input"})
	require.NoError(t, err)
	_, err = s.Start(context.Background(), b, "sum", []string{"1000"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		l := s.List()
		return len(l) == 2 && l[0].State != StateRunning && l[1].State != StateRunning
	}, 20*time.Second, 5*time.Millisecond)
	s.Wait()
	l := s.List()
	require.Equal(t, StateFailed, l[0].State)
	require.Contains(t, l[0].Error, ErrPanicked.Error())
	require.Contains(t, l[0].Error, "boom: bad input")
	require.Equal(t, StateDone, l[1].State)
	require.Equal(t, "500500", l[1].Result)
	var recs []Record
	require.NoError(t, bank.View(context.Background(), func(tx *stm.Tx) error {
		recs, err = taskTable.Get(tx)
		return err
	}))
	require.Equal(t, StateFailed, recs[0].State, "the failure is recorded in STM")
	require.Contains(t, recs[0].Error, "boom: bad input")
}

// Run returns a program's panic, a runtime error too, as ErrPanicked with
// the value.
func TestRunReturnsPanicAsError(t *testing.T) {
	_, err := Run(context.Background(), Config{Name: "p"}, func(ctx context.Context, t *Task) error {
		var m map[string]int
		m["x"] = 1 // a nil map write: a runtime panic
		return nil
	})
	require.ErrorIs(t, err, ErrPanicked)
	require.ErrorContains(t, err, "nil map")
}
