package screen

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/internal/proctest"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// The image saved in STM comes back on the backup after a takeover, and
// only the rows that changed are written by a checkpoint.
// Reference: ftm-lessons.txt §6.4 ("the screen is updated with the old
// version of the screen stored in the backup bank").
func TestBankStoreSurvivesTakeover(t *testing.T) {
	ctx := context.Background()
	bank, backup := stmtest.Mirrored(t)
	s, err := NewServer(ctx, ServerConfig{Width: 20, Height: 5, Store: NewBankStore(bank, "a")})
	require.NoError(t, err)
	require.False(t, s.Restored())
	_, _ = s.Write([]byte("\x1b[2;3r\x1b[1mhello\x1b[3;2Hworld \xce\xbb\x1b7\x1b[31"))
	require.NoError(t, s.Checkpoint(ctx))
	_, _ = s.Write([]byte("m!"))
	require.Equal(t, []int{2}, s.im.DirtyRows(), "only the row written is shipped")
	require.NoError(t, s.Checkpoint(ctx))
	want := s.Snapshot()
	bank2 := stmtest.Takeover(t, backup)
	s2, err := NewServer(ctx, ServerConfig{Width: 80, Height: 24, Store: NewBankStore(bank2, "a")})
	require.NoError(t, err)
	require.True(t, s2.Restored())
	got := s2.Snapshot()
	require.True(t, got.Equal(want), "restored:\n%s\nsaved:\n%s", dump(got), dump(want))
	require.Equal(t, want.Parse.State, got.Parse.State, "the parser state is restored too")
	_, err = NewBankStore(bank2, "b").Load(ctx)
	require.ErrorIs(t, err, ErrNoImage)
	stmtest.Protect(t, bank2)
	objects := len(bank2.Dump())
	require.NoError(t, s2.Forget(ctx))
	_, err = NewBankStore(bank2, "a").Load(ctx)
	require.ErrorIs(t, err, ErrNoImage)
	require.Equal(t, objects-6, len(bank2.Dump()), "the header and the 5 rows are deleted")
}

func TestPushQueuesEachInputOnce(t *testing.T) {
	s, err := NewServer(context.Background(), ServerConfig{Width: 10, Height: 3})
	require.NoError(t, err)
	require.True(t, s.Push(Input{Seq: 1, Data: []byte("a")}))
	require.False(t, s.Push(Input{Seq: 1, Data: []byte("a")}))
	s.SetApplied(3) // a restarted program had applied up to 3
	require.False(t, s.Push(Input{Seq: 2}))
	require.True(t, s.Push(Input{Seq: 4, Data: []byte("d")}))
	in, err := s.ReadInput(context.Background())
	require.NoError(t, err)
	require.Equal(t, []Input{{Seq: 4, Data: []byte("d")}}, in)
}

// A client attaching gets the size and a full redraw, then live output;
// its input reaches the program numbered, and what is acked is forgotten.
func TestAttachRedrawsAndCarriesInput(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := NewServer(ctx, ServerConfig{Width: 10, Height: 3})
	require.NoError(t, err)
	_, _ = s.Write([]byte("before"))
	a, b := net.Pipe()
	go func() { _ = s.Serve(ctx, a) }()
	var c Client
	out := &proctest.SyncBuffer{}
	keys := make(chan []byte, 4)
	done := make(chan error, 1)
	go func() { done <- c.Session(ctx, b, keys, out) }()
	require.Eventually(t, func() bool { return bytes.Contains([]byte(out.String()), []byte("before")) }, 5*time.Second, time.Millisecond)
	w, h := c.Size()
	require.Equal(t, [2]int{10, 3}, [2]int{w, h})
	keys <- []byte("x")
	keys <- []byte("y")
	var got []Input
	for len(got) < 2 {
		in, err := s.ReadInput(ctx)
		require.NoError(t, err)
		got = append(got, in...)
	}
	require.Equal(t, []Input{{Seq: 1, Data: []byte("x")}, {Seq: 2, Data: []byte("y")}}, got)
	_, _ = s.Write([]byte(" after"))
	require.Eventually(t, func() bool { return bytes.Contains([]byte(out.String()), []byte(" after")) }, 5*time.Second, time.Millisecond)
	require.Equal(t, 2, c.Pending())
	s.Ack(1)
	require.Eventually(t, func() bool { return c.Pending() == 1 }, 5*time.Second, time.Millisecond)
	s.Close()
	require.ErrorIs(t, <-done, ErrBye)
	img := New(10, 3)
	_, _ = img.WriteString(out.String())
	require.Equal(t, "before aft", img.Text(0))
	require.Equal(t, "er", img.Text(1))
}

func TestFrameRoundTripAndLimits(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteFrame(&buf, Frame{Kind: FrameInput, Seq: 1 << 40, Data: []byte("abc")}))
	buf.Write([]byte{FrameOutput, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}) // 4 GiB: refused
	r := bufioReader(&buf)
	f, err := ReadFrame(r)
	require.NoError(t, err)
	require.Equal(t, Frame{Kind: FrameInput, Seq: 1 << 40, Data: []byte("abc")}, f)
	_, err = ReadFrame(r)
	require.ErrorIs(t, err, ErrFrame)
}

func bufioReader(b *bytes.Buffer) *bufio.Reader { return bufio.NewReader(b) }

// A second client (a new ftmctl attach after the first one went) numbers
// its input after what the server already queued, so none of it is taken
// for a duplicate.
func TestNewClientNumbersOnFromTheServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := NewServer(ctx, ServerConfig{Width: 10, Height: 3})
	require.NoError(t, err)
	s.Push(Input{Seq: 1, Data: []byte("a")})
	s.Push(Input{Seq: 2, Data: []byte("b")})
	_, err = s.ReadInput(ctx)
	require.NoError(t, err)
	a, b := net.Pipe()
	go func() { _ = s.Serve(ctx, a) }()
	var c Client
	keys := make(chan []byte, 1)
	go func() { _ = c.Session(ctx, b, keys, io.Discard) }()
	keys <- []byte("c")
	in, err := s.ReadInput(ctx)
	require.NoError(t, err)
	require.Equal(t, []Input{{Seq: 3, Data: []byte("c")}}, in)
}

// TestServeAfterDropBreaksTheConnection: a terminal that connects after the
// node dropped its clients (a race in the editor's random-takeover test:
// Drop before Serve registered) is cut at once, so it reconnects to the
// survivor instead of waiting forever on a server that is going away.
func TestServeAfterDropBreaksTheConnection(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := NewServer(ctx, ServerConfig{Width: 10, Height: 3})
	require.NoError(t, err)
	s.Drop()
	a, b := net.Pipe()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, a) }()
	var c Client
	done := make(chan error, 1)
	go func() { done <- c.Session(ctx, b, make(chan []byte), &proctest.SyncBuffer{}) }()
	select {
	case err := <-done:
		require.Error(t, err)
		require.NotErrorIs(t, err, ErrBye, "a dropped node says no goodbye")
	case <-time.After(10 * time.Second):
		t.Fatal("the session never ended after Drop")
	}
	require.ErrorIs(t, <-served, ErrDropped)
}
