package node_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/node/control"
)

// The nodes (ReadOrCreateSecret) and their clients (ReadSecret) read a
// secret file the same way: the same bytes from the same file, or the
// same refusal.
func TestSecretOneFormat(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []byte // nil: refused with ErrSecret
	}{
		{"plain", "0a0b", []byte{0x0a, 0x0b}},
		{"newline", "0a0b\n", []byte{0x0a, 0x0b}},
		{"spaces", "  0a0b \r\n", []byte{0x0a, 0x0b}},
		{"empty", "", nil},
		{"blank", " \n", nil},
		{"not hex", "zz\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, control.SecretFile), []byte(tc.file), 0o600))
			node, nerr := control.ReadOrCreateSecret(dir)
			client, cerr := control.ReadSecret(dir)
			if tc.want == nil {
				require.True(t, errors.Is(nerr, control.ErrSecret), "node: %v", nerr)
				require.True(t, errors.Is(cerr, control.ErrSecret), "client: %v", cerr)
				return
			}
			require.NoError(t, nerr)
			require.NoError(t, cerr)
			require.Equal(t, tc.want, node)
			require.Equal(t, tc.want, client)
		})
	}
}
