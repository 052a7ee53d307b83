// Package sieve is the paper's prime computation (§6.2): it finds the first
// N primes by trial division, keeping them in an RVM segment (2,048
// four-byte primes per 8 KiB page), and is checkpointed by a policy. It is
// an ordinary Go program: it has no failure-handling code. Started again
// after a crash, it finds its primes and its progress in its restored
// segments and goes on. Command primes runs it on its own; a node runs it
// as a stable task ("ftmctl run primes").
package sieve
