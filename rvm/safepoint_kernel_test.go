package rvm

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel"
)

// kernelPair is two tasks of one node: worker receives on port, and peer
// holds toPort, a send right to it.
type kernelPair struct {
	worker, peer *kernel.Task
	port, toPort kernel.Name
}

// newKernelPair starts the node (shut down at the test's end) and its two
// tasks.
func newKernelPair(t *testing.T) *kernelPair {
	n := kernel.NewNode(kernel.Config{Name: "n"})
	t.Cleanup(n.Shutdown)
	var kp kernelPair
	var err error
	kp.worker, err = n.NewTask("worker")
	require.NoError(t, err)
	kp.peer, err = n.NewTask("peer")
	require.NoError(t, err)
	kp.port, err = kp.worker.AllocatePort()
	require.NoError(t, err)
	kp.toPort, err = kp.worker.InsertRight(kp.peer, kp.port, kernel.MakeSend, kernel.NameNull)
	require.NoError(t, err)
	return &kp
}

// A task blocked in Receive is checkpointed without ever calling Poll, and
// does not run (touch its segment) until the checkpoint is over, even if
// its message arrives meanwhile.
func TestTaskBlockedInReceiveIsCheckpointed(t *testing.T) {
	ctx := context.Background()
	kp := newKernelPair(t)
	s := newSeg(t, Compare, 2)
	var sp SafePoint
	sp.AttachTask(kp.worker)
	require.Equal(t, "worker", sp.Name)
	step := make(chan uint32, 4)
	go func() {
		for i := uint32(1); ; i++ {
			m, err := kp.worker.Receive(ctx, kp.port)
			if err != nil {
				return
			}
			binary.LittleEndian.PutUint32(s.Bytes()[ps:], binary.LittleEndian.Uint32(m.Body)) // the message's effect
			step <- i
		}
	}()
	send := func(v uint32) {
		require.NoError(t, kp.peer.Send(ctx, &kernel.Message{Dest: kp.toPort, Body: binary.LittleEndian.AppendUint32(nil, v)}))
	}
	send(7)
	require.Equal(t, uint32(1), <-step)

	store := NewMemStore()
	// The task now waits in Receive: a short timeout is enough, no Poll is needed.
	tc, err := sp.CheckpointTask(ctx, time.Second, store, s)
	require.NoError(t, err)
	require.Equal(t, 1, tc.Pages)
	pages, err := store.LoadPages(ctx, "data")
	require.NoError(t, err)
	require.Equal(t, uint32(7), binary.LittleEndian.Uint32(pages[1]))

	// Stopped while waiting; the message arrives; the task must not run.
	require.NoError(t, sp.Stop(ctx, time.Second))
	send(8)
	select {
	case i := <-step:
		t.Fatalf("task ran step %d while stopped for a checkpoint", i)
	case <-time.After(50 * time.Millisecond):
	}
	require.Equal(t, uint32(7), binary.LittleEndian.Uint32(s.Bytes()[ps:]))
	sp.Resume()
	require.Equal(t, uint32(2), <-step)
	require.Equal(t, uint32(8), binary.LittleEndian.Uint32(s.Bytes()[ps:]))
}

// A task that loops on Send and never polls is checkpointed at its Sends,
// always between two steps: the two words it keeps equal (on two pages)
// are equal in every checkpoint.
func TestTaskLoopingOnSendIsCheckpointed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kp := newKernelPair(t) // the peer sends, the worker drains
	go func() {
		for {
			m, err := kp.worker.Receive(ctx, kp.port)
			if err != nil {
				return
			}
			m.Free()
		}
	}()
	s := newSeg(t, Compare, 2)
	words := s.Uint32s()
	var sp SafePoint
	sp.AttachTask(kp.peer)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := uint32(1); ctx.Err() == nil; i++ {
			words[0] = i
			words[ps/4] = i
			if kp.peer.Send(ctx, &kernel.Message{Dest: kp.toPort}) != nil {
				return
			}
		}
	}()
	store := NewMemStore()
	for k := 0; k < 20; k++ {
		_, err := sp.CheckpointTask(ctx, 5*time.Second, store, s)
		require.NoError(t, err)
		pages, err := store.LoadPages(ctx, "data")
		require.NoError(t, err)
		if len(pages) == 2 {
			require.Equal(t, binary.LittleEndian.Uint32(pages[0]), binary.LittleEndian.Uint32(pages[1]), "checkpoint %d saw a half-done step", k)
		}
	}
	cancel()
	<-done
}
