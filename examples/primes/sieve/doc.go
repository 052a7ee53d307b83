// Package sieve is the paper's prime computation (§6.2): it finds the first
// N primes by trial division by the primes found so far, keeping them in
// an RVM segment (2,048 four-byte primes per 8 KiB page) that it both reads
// and writes, and is checkpointed by a policy. It is an ordinary Go
// program: it has no failure-handling code. Started again after a crash,
// it finds its primes and its progress in its restored segments and goes
// on. Command primes runs it on its own; a node runs it as a stable task
// ("ftmctl run primes"). Compute also keeps the slower textbook mode, each
// candidate divided by every number up to its square root, for command
// primes -by-primes=false.
package sieve
