package link

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A channel's Recv reads the parent link itself; frames it reads for other
// services reach their channels in order, and closing the channel or
// ending the caller's context interrupts a Recv blocked in that read.
func TestMuxReceiverReadsParentOverTCP(t *testing.T) {
	d, a := tcpPair(t, Config{Name: "alpha", Secret: secret}, Config{Name: "beta", Secret: secret})
	md, ma := NewMux(d, nil), NewMux(a, nil)
	defer md.Close()
	defer ma.Close()
	stD, _ := md.Channel(ServiceSTM)
	hbD, _ := md.Channel(ServiceHeartbeat)
	stA, _ := ma.Channel(ServiceSTM)
	hbA, _ := ma.Channel(ServiceHeartbeat)
	ctx := ctxT(t)

	for i := uint64(1); i <= 3; i++ {
		require.NoError(t, hbA.Send(ctx, Frame{Seq: i}))
	}
	require.NoError(t, stA.Send(ctx, Frame{Seq: 10}))
	f, err := stD.Recv(ctx) // reads past the heartbeat frames, queueing them
	require.NoError(t, err)
	require.Equal(t, uint64(10), f.Seq)
	for i := uint64(1); i <= 3; i++ {
		f, err := hbD.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, i, f.Seq, "frames read by another channel's receiver keep their order")
	}

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = stD.Recv(short)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	got := make(chan error, 1)
	go func() { _, err := stD.Recv(context.Background()); got <- err }()
	time.Sleep(20 * time.Millisecond) // let it block in the parent's read
	require.NoError(t, stD.Close())
	select {
	case err := <-got:
		require.ErrorIs(t, err, ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("closing the channel did not interrupt its Recv")
	}

	// The link is intact after the interrupted reads: a frame cut short
	// by them is finished by the next reader.
	require.NoError(t, hbA.Send(ctx, Frame{Seq: 7, Body: make([]byte, 200000)}))
	f, err = hbD.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(7), f.Seq)
	require.Len(t, f.Body, 200000)

	require.NoError(t, a.Close())
	select {
	case <-md.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the end of the parent link went unnoticed with no Recv waiting")
	}
	_, err = hbD.Recv(ctx)
	require.ErrorIs(t, err, ErrClosed)
}

// A bulk transfer (large frames back to back, the standby goroutine
// reading ahead while the receiver handles each) keeps every frame, in
// order, on each channel.
func TestMuxBulkTransferKeepsOrder(t *testing.T) {
	d, a := tcpPair(t, Config{Name: "alpha", Secret: secret}, Config{Name: "beta", Secret: secret})
	md, ma := NewMux(d, nil), NewMux(a, nil)
	defer md.Close()
	defer ma.Close()
	stD, _ := md.Channel(ServiceSTM)
	hbD, _ := md.Channel(ServiceHeartbeat)
	stA, _ := ma.Channel(ServiceSTM)
	hbA, _ := ma.Channel(ServiceHeartbeat)
	ctx := ctxT(t)
	const frames = 40
	go func() {
		for i := range frames {
			body := make([]byte, 3*muxReadAhead)
			body[0], body[len(body)-1] = byte(i), byte(i)
			_ = stA.Send(ctx, Frame{Seq: uint64(i), Body: body})
			_ = hbA.Send(ctx, Frame{Seq: uint64(i)})
		}
	}()
	for i := range frames {
		f, err := stD.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, uint64(i), f.Seq)
		require.Equal(t, byte(i), f.Body[0])
		require.Equal(t, byte(i), f.Body[len(f.Body)-1])
		time.Sleep(time.Millisecond / 4) // handling the frame: the standby reads ahead meanwhile
	}
	for i := range frames {
		f, err := hbD.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, uint64(i), f.Seq)
	}
}
