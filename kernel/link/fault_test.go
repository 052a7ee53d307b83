package link

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func recvSeqs(t *testing.T, l Link, n int) []uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []uint64
	for range n {
		f, err := l.Recv(ctx)
		require.NoError(t, err)
		got = append(got, f.Seq)
	}
	return got
}

// A partition holds frames both ways without losing or reordering them;
// they flow again once it is healed.
func TestFaultsPartitionHoldsFramesInOrder(t *testing.T) {
	a, b := NewMemPair("a", "b", MemConfig{})
	fa, fb := NewFaults(), NewFaults()
	la, lb := fa.Wrap(a), fb.Wrap(b)
	defer la.Close()
	ctx := context.Background()

	require.NoError(t, la.Send(ctx, Frame{Seq: 1, Body: []byte("x")}))
	require.Equal(t, []uint64{1}, recvSeqs(t, lb, 1))
	require.False(t, fb.LastRecv().IsZero())

	fa.Partition(0)
	fb.Partition(0)
	require.True(t, fa.Partitioned())
	body := []byte("reused")
	for i := uint64(2); i <= 5; i++ {
		require.NoError(t, la.Send(ctx, Frame{Seq: i, Body: body}))
		body[0] = 'X' // the caller may reuse the body once Send returns
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err := lb.Recv(short)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "nothing passes a partition")

	fa.Heal()
	fb.Heal()
	require.Equal(t, []uint64{2, 3, 4, 5}, recvSeqs(t, lb, 4))
	require.NoError(t, la.Send(ctx, Frame{Seq: 6}))
	require.Equal(t, []uint64{6}, recvSeqs(t, lb, 1))
}

// A partition with a duration ends by itself; a delay keeps order and
// does not return before the link is healthy again.
func TestFaultsPartitionEndsAndDelayKeepsOrder(t *testing.T) {
	a, b := NewMemPair("a", "b", MemConfig{})
	fa := NewFaults()
	la := fa.Wrap(a)
	defer la.Close()
	ctx := context.Background()

	fa.Partition(30 * time.Millisecond)
	require.NoError(t, la.Send(ctx, Frame{Seq: 1}))
	require.Equal(t, []uint64{1}, recvSeqs(t, b, 1))
	require.False(t, fa.Partitioned())

	fa.Slow(20*time.Millisecond, 0)
	st := fa.State()
	require.Equal(t, 20*time.Millisecond, st.Delay)
	for i := uint64(2); i <= 20; i++ {
		require.NoError(t, la.Send(ctx, Frame{Seq: i}))
	}
	fa.Heal()
	require.NoError(t, la.Send(ctx, Frame{Seq: 21}), "after healing, sends wait behind the held frames")
	want := make([]uint64, 0, 20)
	for i := uint64(2); i <= 21; i++ {
		want = append(want, i)
	}
	require.Equal(t, want, recvSeqs(t, b, 20))
	require.Equal(t, FaultState{}, fa.State())
}

// SendVec joins the parts when it has to hold the frame.
func TestFaultsSendVecHeld(t *testing.T) {
	a, b := NewMemPair("a", "b", MemConfig{})
	fa := NewFaults()
	wrapped := fa.Wrap(a)
	defer wrapped.Close()
	la := wrapped.(VectorSender)
	fa.Slow(time.Millisecond, 0)
	require.NoError(t, la.SendVec(context.Background(), Frame{Seq: 7}, [][]byte{[]byte("ab"), []byte("cd")}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f, err := b.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, "abcd", string(f.Body))
}

// BenchmarkFaultsOff: a ping-pong over an in-memory link pair, raw and
// wrapped by a Faults with nothing switched on (what every node of an
// ftmctl pair runs); the ratio is the wrapper's cost.
func BenchmarkFaultsOff(b *testing.B) {
	pingPong := func(b *testing.B, wrap bool) time.Duration {
		a, c := NewMemPair("a", "c", MemConfig{})
		var la, lc Link = a, c
		if wrap {
			la, lc = NewFaults().Wrap(a), NewFaults().Wrap(c)
		}
		defer la.Close()
		ctx := context.Background()
		go func() {
			for {
				f, err := lc.Recv(ctx)
				if err != nil || lc.Send(ctx, f) != nil {
					return
				}
			}
		}()
		body := make([]byte, 256)
		start := time.Now()
		for i := 0; i < b.N; i++ {
			if err := la.Send(ctx, Frame{Seq: uint64(i), Body: body}); err != nil {
				b.Fatal(err)
			}
			if _, err := la.Recv(ctx); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	raw := pingPong(b, false)
	b.ResetTimer()
	wrapped := pingPong(b, true)
	b.ReportMetric(float64(wrapped)/float64(raw), "x-raw")
}
