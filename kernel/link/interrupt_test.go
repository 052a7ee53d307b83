package link_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel/link"
)

var interruptSecret = []byte("interrupt-secret-0123456789")

// interruptPairs are the links that implement link.Interrupter, each as a
// (receiving end, sending end) pair.
func interruptPairs(t *testing.T) map[string][2]link.Interrupter {
	t.Helper()
	pairs := map[string][2]link.Interrupter{}
	ma, mb := link.NewMemPair("alpha", "beta", link.MemConfig{})
	pairs["mem"] = [2]link.Interrupter{ma, mb}
	acc, dial, aerr, derr := linkUp(t, link.Config{Name: "beta", Secret: interruptSecret}, link.Config{Name: "alpha", Secret: interruptSecret})
	require.NoError(t, aerr)
	require.NoError(t, derr)
	pairs["tcp"] = [2]link.Interrupter{acc, dial}
	ids := identities(t, "alpha", "beta")
	acc, dial, aerr, derr = linkUp(t, tlsConfig("beta", "alpha", ids["beta"]), tlsConfig("alpha", "beta", ids["alpha"]))
	require.NoError(t, aerr)
	require.NoError(t, derr)
	pairs["tls"] = [2]link.Interrupter{acc, dial}
	fa, fb := link.NewMemPair("alpha", "beta", link.MemConfig{})
	fs := link.NewFaults()
	pairs["faults"] = [2]link.Interrupter{fs.Wrap(fa).(link.Interrupter), fs.Wrap(fb).(link.Interrupter)}
	xa, xb := link.NewMemPair("alpha", "beta", link.MemConfig{})
	muxA, muxB := link.NewMux(fs.Wrap(xa), nil), link.NewMux(fs.Wrap(xb), nil)
	ca, err := muxA.Channel(link.ServicePorts)
	require.NoError(t, err)
	cb, err := muxB.Channel(link.ServicePorts)
	require.NoError(t, err)
	pairs["mux over faults"] = [2]link.Interrupter{ca.(link.Interrupter), cb.(link.Interrupter)}
	t.Cleanup(func() {
		_ = muxA.Close()
		_ = muxB.Close()
		<-muxA.Done()
		<-muxB.Done()
		for _, p := range pairs {
			_ = p[0].Close()
			_ = p[1].Close()
		}
	})
	return pairs
}

// Interrupt takes a Recv out of its wait with ErrInterrupted, once, and
// the link lives on: frames sent before and after arrive in order.
func TestInterruptCutsRecvShortAndTheLinkLivesOn(t *testing.T) {
	for name, p := range interruptPairs(t) {
		t.Run(name, func(t *testing.T) {
			r, s := p[0], p[1]
			got := make(chan error, 1)
			go func() { _, err := r.Recv(context.Background()); got <- err }()
			time.Sleep(10 * time.Millisecond) // usually in the read by now; either way it must be cut
			r.Interrupt()
			select {
			case err := <-got:
				require.ErrorIs(t, err, link.ErrInterrupted)
			case <-time.After(10 * time.Second):
				t.Fatal("Interrupt did not end the Recv")
			}
			require.NoError(t, r.Err())
			for seq := uint64(1); seq <= 2; seq++ {
				require.NoError(t, s.Send(context.Background(), link.Frame{Seq: seq, Body: []byte("after")}))
			}
			for seq := uint64(1); seq <= 2; seq++ {
				f, err := r.Recv(context.Background())
				require.NoError(t, err)
				require.Equal(t, seq, f.Seq)
			}
		})
	}
}

// An Interrupt with no Recv in progress is reported by the next Recv, and
// only by it; interruptions before it do not add up.
func TestInterruptBeforeRecvIsReportedOnce(t *testing.T) {
	for name, p := range interruptPairs(t) {
		t.Run(name, func(t *testing.T) {
			r, s := p[0], p[1]
			r.Interrupt()
			r.Interrupt()
			_, err := r.Recv(context.Background())
			require.ErrorIs(t, err, link.ErrInterrupted)
			require.NoError(t, s.Send(context.Background(), link.Frame{Seq: 5}))
			f, err := r.Recv(context.Background())
			require.NoError(t, err)
			require.Equal(t, uint64(5), f.Seq)
		})
	}
}

// A Recv held by a partition (its frame arrived and waits for the heal) is
// interrupted too, and the frame is not lost.
func TestInterruptCutsAPartitionWait(t *testing.T) {
	ma, mb := link.NewMemPair("alpha", "beta", link.MemConfig{})
	defer ma.Close()
	fs := link.NewFaults()
	r := fs.Wrap(ma).(link.Interrupter)
	require.NoError(t, mb.Send(context.Background(), link.Frame{Seq: 3}))
	fs.Partition(time.Hour)
	got := make(chan error, 1)
	go func() { _, err := r.Recv(context.Background()); got <- err }()
	time.Sleep(10 * time.Millisecond)
	r.Interrupt()
	select {
	case err := <-got:
		require.ErrorIs(t, err, link.ErrInterrupted)
	case <-time.After(10 * time.Second):
		t.Fatal("Interrupt did not end a Recv held by a partition")
	}
	fs.Heal()
	f, err := r.Recv(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint64(3), f.Seq)
}

// A link that cannot be interrupted does not become one by being wrapped
// or multiplexed.
func TestWrappedLinksInterruptOnlyOverAnInterrupter(t *testing.T) {
	var plain link.Link = struct{ link.Link }{link.Link(nil)}
	_, ok := link.NewFaults().Wrap(plain).(link.Interrupter)
	require.False(t, ok)
}

// Interrupts raining on a receiver in the middle of large frames (a TCP or
// TLS read cut mid-record, mid-header, mid-body) lose, reorder and corrupt
// nothing, and leave the link healthy: the cut frame is finished by the
// next Recv.
func TestInterruptsMidFrameLoseNothing(t *testing.T) {
	const frames = 100
	body := func(seq uint64) []byte {
		b := make([]byte, 1+int(seq*7919)%(256<<10))
		for i := range b {
			b[i] = byte(seq + uint64(i)*31)
		}
		return b
	}
	for name, p := range interruptPairs(t) {
		t.Run(name, func(t *testing.T) {
			r, s := p[0], p[1]
			sent := make(chan error, 1)
			go func() {
				for seq := uint64(1); seq <= frames; seq++ {
					if err := s.Send(context.Background(), link.Frame{Seq: seq, Body: body(seq)}); err != nil {
						sent <- err
						return
					}
				}
				sent <- nil
			}()
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					default:
						r.Interrupt()
						time.Sleep(20 * time.Microsecond)
					}
				}
			}()
			interrupted := 0
			for seq := uint64(1); seq <= frames; {
				f, err := r.Recv(context.Background())
				if errors.Is(err, link.ErrInterrupted) {
					interrupted++
					continue
				}
				require.NoError(t, err, "frame %d (after %d interruptions)", seq, interrupted)
				require.Equal(t, seq, f.Seq)
				require.True(t, bytes.Equal(body(seq), f.Body), "frame %d's body", seq)
				seq++
			}
			require.NoError(t, <-sent)
			require.NoError(t, r.Err())
			require.Positive(t, interrupted, "the interrupts must have cut some reads")
		})
	}
}
