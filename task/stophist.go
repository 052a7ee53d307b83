package task

import (
	"math"
	"time"
)

// StopHistogram counts the times a task was stopped for its checkpoints,
// one count per stop, in buckets a quarter of a power of two wide (bucket
// i holds stops from 2^(i/4) to 2^((i+1)/4) microseconds; the first holds
// everything under 1 µs, the last everything over about 16 s), so a
// quantile is known within 19 % however long the task runs.
type StopHistogram [stopBuckets]int32

const stopBuckets = 97

// add counts one stop of d.
func (h *StopHistogram) add(d time.Duration) {
	us := float64(d) / float64(time.Microsecond)
	i := 0
	if us > 1 {
		i = min(int(4*math.Log2(us))+1, stopBuckets-1)
	}
	h[i]++
}

// Count is the number of stops counted.
func (h *StopHistogram) Count() int {
	n := 0
	for _, c := range h {
		n += int(c)
	}
	return n
}

// Quantile returns the stop time below which a fraction q of the stops
// fall (q in [0, 1]; 0.5: the median): the geometric middle of its
// bucket. It is 0 when nothing was counted.
func (h *StopHistogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(n)))
	seen := 0
	for i, c := range h {
		seen += int(c)
		if seen >= max(rank, 1) {
			return bucketMiddle(i)
		}
	}
	return bucketMiddle(stopBuckets - 1)
}

// bucketMiddle is the geometric middle of bucket i, in time.
func bucketMiddle(i int) time.Duration {
	if i == 0 {
		return time.Microsecond / 2
	}
	us := math.Exp2((float64(i-1) + 0.5) / 4)
	return time.Duration(us * float64(time.Microsecond))
}
