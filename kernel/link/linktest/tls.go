package linktest

import (
	"crypto/tls"
	"net"
	"testing"
)

// NewTLSPingPong is NewRawPingPong over TLS: the echo server runs with
// server, the client with client (a benchmark passes the configurations
// its links use, so both negotiate the same version and cipher suite). It
// returns the client's side of the session, to check the cipher suite.
func NewTLSPingPong(tb testing.TB, size int, server, client *tls.Config) (*RawPingPong, tls.ConnectionState) {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { lis.Close() })
	go echo(tls.NewListener(lis, server), size)
	c, err := tls.Dial("tcp", lis.Addr().String(), client)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if err := c.Handshake(); err != nil {
		tb.Fatal(err)
	}
	return &RawPingPong{c: c, buf: make([]byte, size)}, c.ConnectionState()
}
