package client

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A pair whose nodes are both down: the call is retried on both until its
// deadline, then fails with ErrUnavailable; a cancelled call ends with
// context.Canceled; an unbound method and a closed Conn are refused at once.
func TestCallWithNoNodeUp(t *testing.T) {
	dir := t.TempDir()
	c, err := Dial(Config{Secret: []byte("s"), Backoff: time.Millisecond, Nodes: []Node{
		{Name: "n1", Socket: filepath.Join(dir, "n1.sock")}, {Name: "n2", Socket: filepath.Join(dir, "n2.sock")}}})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = Call(ctx, c, kvGet.At("n1/kv"), "a")
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Greater(t, c.nodes[1].dials.Load(), int64(1), "the partner was tried again and again")

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = Call(ctx, c, kvGet.At("n1/kv"), "a")
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, errors.Is(err, ErrUnavailable))

	_, err = Call(context.Background(), c, kvGet, "a")
	require.ErrorIs(t, err, ErrRefused)
	require.NoError(t, c.Close())
	_, err = Call(context.Background(), c, kvGet.At("n1/kv"), "a")
	require.ErrorIs(t, err, ErrClosed)
}

func TestDialNeedsAPair(t *testing.T) {
	_, err := DialPair(t.TempDir())
	require.ErrorContains(t, err, "no pair is running there")
	_, err = Dial(Config{})
	require.ErrorContains(t, err, "no node to call")
}
