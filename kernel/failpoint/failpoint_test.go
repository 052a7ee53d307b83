package failpoint

import (
	"errors"
	"testing"
)

func TestNilHookNeverFires(t *testing.T) {
	var h Hook
	if err := h.At("p", "s"); err != nil {
		t.Fatalf("nil hook fired: %v", err)
	}
}

func TestOnceFiresOnceAtItsPointAndSubject(t *testing.T) {
	h := Once("p", "u1")
	if h.Fires("q", "u1") || h.Fires("p", "u2") {
		t.Fatal("fired at another point or subject")
	}
	err := h.At("p", "u1")
	if !errors.Is(err, ErrCrash) {
		t.Fatalf("first hit: got %v, want ErrCrash", err)
	}
	if h.Fires("p", "u1") {
		t.Fatal("fired twice")
	}
}

func TestChainStopsAtFirstError(t *testing.T) {
	calls := 0
	count := Hook(func(string, string) error { calls++; return nil })
	h := Chain(nil, count, Once("p", ""), count)
	if err := h.At("p", ""); !errors.Is(err, ErrCrash) {
		t.Fatalf("got %v, want ErrCrash", err)
	}
	if calls != 1 {
		t.Fatalf("hooks after the failing one ran: %d calls", calls)
	}
}
