package control

import (
	"fmt"
	"net"
)

// CheckLoopback refuses a metrics address that is not on a loopback
// interface: the figures are not authenticated.
func CheckLoopback(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--metrics-addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--metrics-addr %q is not a loopback address (use 127.0.0.1:PORT, or protect it with --web-config-file: TLS, basic auth)", addr)
	}
	return nil
}
