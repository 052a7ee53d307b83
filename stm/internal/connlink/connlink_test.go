package connlink

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/ftm-in-go/ftm/kernel/link"
)

func TestFramesRoundTripInOrder(t *testing.T) {
	a, b, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	sent := []link.Frame{
		{Service: link.ServiceSTM, Kind: 1, Seq: 7, Body: []byte("hello")},
		{Service: link.ServiceHeartbeat, Kind: 2, Seq: 8},
		{Service: link.ServiceSTM, Kind: 3, Seq: 9, Body: bytes.Repeat([]byte("x"), 300_000)},
	}
	go func() {
		for _, f := range sent {
			_ = a.Send(ctx, f)
		}
	}()
	for i, want := range sent {
		got, err := b.Recv(ctx)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got.Service != want.Service || got.Kind != want.Kind || got.Seq != want.Seq || !bytes.Equal(got.Body, want.Body) {
			t.Fatalf("frame %d: got %+v", i, got.Seq)
		}
	}
	_ = a.Close()
	if _, err := b.Recv(ctx); !errors.Is(err, link.ErrClosed) {
		t.Fatalf("after peer close: %v, want ErrClosed", err)
	}
	<-b.Done()
	if err := b.Send(ctx, sent[0]); err == nil {
		t.Fatal("send on a dead link succeeded")
	}
}

func TestOversizedFrameRefused(t *testing.T) {
	a, b, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	err = a.Send(context.Background(), link.Frame{Body: make([]byte, MaxFrame)})
	if !errors.Is(err, link.ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
}
