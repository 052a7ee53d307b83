package main

import (
	"fmt"
	"math"
)

// plainPrimes returns "prime n is P", the line the primes program ends
// with, from a plain sieve of Eratosthenes: a computation independent of
// the program under test (package sieve's trial division), to check its
// results against.
func plainPrimes(n int) (string, error) {
	if n < 1 {
		return "", fmt.Errorf("plain primes: n must be at least 1, got %d", n)
	}
	p, err := nthPrime(n)
	return fmt.Sprintf("prime %d is %d", n, p), err
}

// nthPrime sieves the odd numbers up to a bound above the n-th prime
// (n(ln n + ln ln n) for n ≥ 6, Rosser's theorem), one bit each, and
// counts.
func nthPrime(n int) (uint64, error) {
	limit := uint64(15)
	if n >= 6 {
		f := float64(n)
		limit = uint64(f*(math.Log(f)+math.Log(math.Log(f)))) + 1
	}
	half := limit/2 + 1 // bit i stands for 2i+1
	composite := make([]uint64, half/64+1)
	for i := uint64(1); (2*i+1)*(2*i+1) <= limit; i++ {
		if composite[i/64]&(1<<(i%64)) != 0 {
			continue
		}
		p := 2*i + 1
		for j := p * p / 2; j < half; j += p {
			composite[j/64] |= 1 << (j % 64)
		}
	}
	count := 1 // 2
	if n == 1 {
		return 2, nil
	}
	for i := uint64(1); i < half; i++ {
		if composite[i/64]&(1<<(i%64)) == 0 {
			if count++; count == n {
				return 2*i + 1, nil
			}
		}
	}
	return 0, fmt.Errorf("plain primes: fewer than %d primes below %d", n, limit)
}
