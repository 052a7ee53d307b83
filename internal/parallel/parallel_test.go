package parallel

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every index is visited exactly once, whether the loop is split or not.
func TestForCoversEveryIndexOnce(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 128, 1000, 8193} {
		seen := make([]int, n)
		var mu sync.Mutex
		For(n, 64, func(lo, hi int) {
			mu.Lock()
			defer mu.Unlock()
			for i := lo; i < hi; i++ {
				seen[i]++
			}
		})
		for i, c := range seen {
			require.Equal(t, 1, c, "n=%d index %d", n, i)
		}
	}
}
