package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The plain sieve the soak checks its runs against gives the known n-th
// primes (tables of primes; the larger ones cross-checked with sympy),
// among them those the tests of this package expect.
func TestPlainPrimesKnownValues(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{1, "prime 1 is 2"},
		{2, "prime 2 is 3"},
		{5, "prime 5 is 11"},
		{6, "prime 6 is 13"},
		{100, "prime 100 is 541"},
		{200000, "prime 200000 is 2750159"},
		{400000, "prime 400000 is 5800079"},
		{800000, "prime 800000 is 12195257"},
		{1000000, "prime 1000000 is 15485863"},
		{1600000, "prime 1600000 is 25582153"},
		{2000000, "prime 2000000 is 32452843"},
		{2400000, "prime 2400000 is 39410867"},
	} {
		got, err := plainPrimes(tc.n)
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
	}
	_, err := plainPrimes(0)
	require.Error(t, err)
}
