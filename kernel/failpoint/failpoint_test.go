package failpoint

import (
	"errors"
	"sync"
	"sync/atomic"
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

func TestNthFiresAtTheNthHitOnly(t *testing.T) {
	h := Nth("p", "", 3)
	for i := 1; i <= 5; i++ {
		h.Fires("q", "") // another point does not count
		if got := h.Fires("p", "u"+string(rune('0'+i))); got != (i == 3) {
			t.Fatalf("hit %d: fired %v", i, got)
		}
	}
	if Nth("p", "", 0).Fires("p", "") {
		t.Fatal("n = 0 fired")
	}
}

func TestNthFiresOnceUnderConcurrentHits(t *testing.T) {
	h := Nth("p", "", 50)
	var fired atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if h.Fires("p", "") {
					fired.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if fired.Load() != 1 {
		t.Fatalf("fired %d times, want 1", fired.Load())
	}
}
