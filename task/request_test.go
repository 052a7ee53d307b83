package task

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// A task whose policy never checkpoints takes one when asked, at its next
// safe point, and only one per request.
func TestRequestCheckpointForcesOne(t *testing.T) {
	bank, _ := stmtest.Mirrored(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewServer(ctx, ServerConfig{Node: "n", Programs: map[string]Program{"sum": sum}, Logger: zaptest.NewLogger(t)})
	require.ErrorIs(t, s.RequestCheckpoint("n", 1), ErrNotRunning)
	_, err := s.Start(ctx, Bank{Name: "n", STM: bank}, "sum", []string{"1000000000000"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return s.RequestCheckpoint("n", 1) == nil }, 10*time.Second, time.Millisecond)
	checkpoints := func() int { return s.List()[0].Stats.Checkpoints }
	require.Eventually(t, func() bool { return checkpoints() == 1 }, 10*time.Second, time.Millisecond)
	require.NoError(t, s.RequestCheckpoint("n", 1))
	require.Eventually(t, func() bool { return checkpoints() == 2 }, 10*time.Second, time.Millisecond)
	require.Equal(t, int64(0), forcedPending.Load(), "every request was honoured")
	require.ErrorIs(t, s.RequestCheckpoint("n", 2), ErrNotRunning)
	require.ErrorIs(t, s.RequestCheckpoint("m", 1), ErrNotRunning)
	cancel()
	s.Wait()
	require.Equal(t, 2, checkpoints(), "no checkpoint without a request")
}
