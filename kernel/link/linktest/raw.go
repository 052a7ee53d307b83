package linktest

import (
	"io"
	"net"
	"testing"
	"time"
)

// RawPingPong is a plain TCP connection to an echo server on 127.0.0.1.
type RawPingPong struct {
	c   net.Conn
	buf []byte
}

// NewRawPingPong starts an echo server for size-byte messages and connects
// to it; both go away when tb ends.
func NewRawPingPong(tb testing.TB, size int) *RawPingPong {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { lis.Close() })
	go echo(lis, size)
	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return &RawPingPong{c: c, buf: make([]byte, size)}
}

func echo(lis net.Listener, size int) {
	c, err := lis.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// Run times n round trips.
func (p *RawPingPong) Run(tb testing.TB, n int) time.Duration {
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := p.c.Write(p.buf); err != nil {
			tb.Fatal(err)
		}
		if _, err := io.ReadFull(p.c, p.buf); err != nil {
			tb.Fatal(err)
		}
	}
	return time.Since(start)
}
