// Package linktest holds test helpers for benchmarks that compare a link
// against raw TCP: a plain loopback ping-pong to use as the same-run
// baseline, and the same ping-pong over TLS for links that run over TLS.
package linktest
