package linkcert_test

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel/link/linkcert"
)

// Every file Create writes is the owner's alone (0600), in a 0700 folder:
// the keys let anyone holding them join the cluster.
func TestCreateWritesFilesMode0600(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, linkcert.Create(dir, "alpha", "beta"))
	fi, err := os.Stat(filepath.Join(dir, linkcert.Subdir))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	entries, err := os.ReadDir(filepath.Join(dir, linkcert.Subdir))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		fi, err := e.Info()
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), e.Name())
	}
	require.ElementsMatch(t, []string{"ca.crt", "ca.key", "alpha.crt", "alpha.key", "beta.crt", "beta.key"}, names)
}

// Create again keeps the authority and the certificates it issued, and
// issues one for a node added later, signed by the same authority.
func TestCreateAgainKeepsTheAuthority(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, linkcert.Create(dir, "alpha"))
	ca, err := os.ReadFile(linkcert.NodePaths(dir, "alpha").CA)
	require.NoError(t, err)
	alpha, err := os.ReadFile(linkcert.NodePaths(dir, "alpha").Cert)
	require.NoError(t, err)

	require.NoError(t, linkcert.Create(dir, "alpha", "gamma"))
	ca2, err := os.ReadFile(linkcert.NodePaths(dir, "alpha").CA)
	require.NoError(t, err)
	alpha2, err := os.ReadFile(linkcert.NodePaths(dir, "alpha").Cert)
	require.NoError(t, err)
	require.Equal(t, ca, ca2)
	require.Equal(t, alpha, alpha2)

	id, err := linkcert.Load(linkcert.NodePaths(dir, "gamma"))
	require.NoError(t, err)
	_, err = id.Cert.Leaf.Verify(x509VerifyOptions(id.CA))
	require.NoError(t, err, "gamma's certificate is signed by the authority made first")
	require.Equal(t, "gamma", id.Cert.Leaf.Subject.CommonName)
	require.Equal(t, []string{"gamma"}, id.Cert.Leaf.DNSNames)
}

// Load names the file it could not use.
func TestLoadMissingFile(t *testing.T) {
	_, err := linkcert.Load(linkcert.NodePaths(t.TempDir(), "alpha"))
	require.ErrorIs(t, err, linkcert.ErrCert)
	require.ErrorContains(t, err, "alpha.crt")
}

func x509VerifyOptions(roots *x509.CertPool) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}
}
