package task

import (
	"testing"
	"time"
)

// The median of the stops is within a bucket's width of the true one,
// whatever the spread of the others.
func TestStopHistogramMedian(t *testing.T) {
	var h StopHistogram
	if h.Quantile(0.5) != 0 {
		t.Fatal("an empty histogram has a median")
	}
	for _, d := range []time.Duration{90 * time.Microsecond, 150 * time.Microsecond, 160 * time.Microsecond,
		170 * time.Microsecond, 40 * time.Millisecond, 3 * time.Second, 200 * time.Nanosecond} {
		h.add(d)
	}
	if h.Count() != 7 {
		t.Fatalf("counted %d stops, want 7", h.Count())
	}
	if m := h.Quantile(0.5); m < 135*time.Microsecond || m > 190*time.Microsecond {
		t.Fatalf("median %v, want about 160µs", m)
	}
	if m := h.Quantile(1); m < 2500*time.Millisecond || m > 3600*time.Millisecond {
		t.Fatalf("max %v, want about 3s", m)
	}
	if m := h.Quantile(0); m >= time.Microsecond {
		t.Fatalf("min %v, want under 1µs", m)
	}
}
