package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/node/control"
)

// pair up with --addrs puts each node on its own address (loopback
// addresses standing for hosts), makes the pair's CA and the nodes'
// certificates in DIR/tls (every file 0600), and the nodes link over TLS
// with them: up returns once both banks are backed up.
func TestPairUpOnTwoHostsOverTLS(t *testing.T) {
	t.Parallel() // real processes in a directory of its own, on free ports; no CPU-bound workload
	if testing.Short() {
		t.Skip("starts processes")
	}
	_, dir, out := startPair(t, "--addrs", "127.0.0.2,127.0.0.3:0")
	require.Contains(t, out, "link 127.0.0.2:")
	require.Contains(t, out, "link 127.0.0.3:")
	st, err := control.LoadPair(dir)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(st.Nodes[0].Addr, "127.0.0.2:"), st.Nodes[0].Addr)
	require.True(t, strings.HasPrefix(st.Nodes[1].Consensus, "127.0.0.3:"), "a node's consensus address is on its host: %s", st.Nodes[1].Consensus)

	files, err := filepath.Glob(filepath.Join(dir, "tls", "*"))
	require.NoError(t, err)
	require.Len(t, files, 6, "ca.crt, ca.key and a certificate and key per node: %v", files)
	for _, f := range files {
		fi, err := os.Stat(f)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), f)
	}
	for _, n := range []string{"n1", "n2"} {
		log, err := os.ReadFile(filepath.Join(dir, n+".log"))
		require.NoError(t, err)
		require.Contains(t, string(log), `"tls":true`, "node %s runs its links over TLS", n)
	}
}
