package task

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// One bank holds the task table, more than 1,024 segments and many tasks
// started before and after them: every object still decodes to what was
// written. (When segments and the task table shared one fixed id layout,
// page 0 of the 1,024th segment was the task table.)
func TestTaskTableAndManySegmentsShareABank(t *testing.T) {
	ctx := context.Background()
	bank, _ := stmtest.Mirrored(t)
	echo := func(_ context.Context, _ *Task, args []string) (string, error) { return args[0], nil }
	s := NewServer(ctx, ServerConfig{Node: "n", Programs: map[string]Program{"echo": echo}, Logger: zaptest.NewLogger(t)})
	start := func(from, to int) {
		for i := from; i < to; i++ {
			_, err := s.Start(ctx, Bank{Name: "n", STM: bank}, "echo", []string{fmt.Sprint("task", i)})
			require.NoError(t, err)
			s.Wait() // ended and recorded: the next start does not race its record
		}
	}
	const tasks, segs = 40, 1100
	start(0, tasks/2)
	store := rvm.NewSTMStore(bank)
	pages := func(seg string) map[int][]byte {
		return map[int][]byte{0: []byte(seg + " page 0"), 1: []byte(seg + " page 1")}
	}
	for k := range segs {
		seg := fmt.Sprint("job", k, "/mem")
		require.NoError(t, store.SavePages(ctx, seg, 2, pages(seg)), seg)
	}
	start(tasks/2, tasks)

	var recs []Record
	require.NoError(t, bank.View(ctx, func(tx *stm.Tx) error {
		var err error
		recs, err = taskTable.Get(tx)
		return err
	}))
	require.Len(t, recs, tasks, "the task table decodes, with every task")
	for i, rec := range recs {
		require.Equal(t, uint64(i+1), rec.ID)
		require.Equal(t, StateDone, rec.State)
		require.Equal(t, fmt.Sprint("task", i), rec.Args[0])
	}
	for k := range segs {
		seg := fmt.Sprint("job", k, "/mem")
		got, err := store.LoadPages(ctx, seg)
		require.NoError(t, err, seg)
		require.Equal(t, pages(seg), got, seg)
	}
}

// Tasks of one bank start, checkpoint and end at the same time: each
// start, checkpoint and end record lands (the ones meeting on the task
// table or the segments' directory are run again), every result is right,
// and the ended tasks' segments are gone from the bank.
func TestConcurrentTasksEndAndDropTheirSegments(t *testing.T) {
	ctx := context.Background()
	bank, _ := stmtest.Mirrored(t)
	s := NewServer(ctx, ServerConfig{Node: "n", Programs: map[string]Program{"sum": sum}, Policy: Policy{Percent: 2}, Logger: zaptest.NewLogger(t)})
	const n = 12
	want := map[uint64]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := int64(20000 * (i + 1))
			rec, err := s.Start(ctx, Bank{Name: "n", STM: bank}, "sum", []string{fmt.Sprint(k)})
			require.NoError(t, err)
			mu.Lock()
			want[rec.ID] = fmt.Sprint(k * (k + 1) / 2)
			mu.Unlock()
		}()
	}
	wg.Wait()
	s.Wait()
	var recs []Record
	var segs map[string]stm.ID
	require.NoError(t, bank.View(ctx, func(tx *stm.Tx) error {
		var err error
		if recs, err = taskTable.Get(tx); err != nil {
			return err
		}
		segs, err = stm.Namespace("rvm").Names(tx)
		return err
	}))
	require.Len(t, recs, n)
	for _, rec := range recs {
		require.Equal(t, StateDone, rec.State, "task %d: %s", rec.ID, rec.Error)
		require.Equal(t, want[rec.ID], rec.Result)
	}
	require.Empty(t, segs, "every ended task's segments were dropped")
}
