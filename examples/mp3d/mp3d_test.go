package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// Reference: §6.3 with the backup in another process — the command
// mirrors its checkpoints to a backup node it starts (-backup process)
// and ends with the checksum of the run without fault tolerance; every
// checkpoint is taken once it waited for its backup.
func TestCommandBackupInAnotherProcessBitIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin := filepath.Join(t.TempDir(), "mp3d")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	args := []string{"-molecules", "3000", "-steps", "100"}
	plain, err := exec.Command(bin, append(args, "-ft=false")...).CombinedOutput()
	require.NoError(t, err, string(plain))
	sum := regexp.MustCompile(`checksum [0-9a-f]{16}`).FindString(string(plain))
	require.NotEmpty(t, sum, string(plain))
	for _, backup := range []string{"process", "local"} {
		out, err = exec.Command(bin, append(args, "-checkpoints", "10", "-backup", backup, "-wait-backup")...).CombinedOutput()
		require.NoError(t, err, string(out))
		require.Contains(t, string(out), sum, "bit-identical to the run without fault tolerance")
		require.Regexp(t, `checkpoints 1[01], `, string(out), "every 10% and at the end")
		require.Contains(t, string(out), "refused before the backup held a copy: 0)")
	}
	out, err = exec.Command(bin, "-serve-backup").CombinedOutput()
	require.Error(t, err, "no secret, no backup")
	require.Contains(t, string(out), secretEnv)
	out, err = exec.Command(bin, "-checkpoints", "3").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "must divide 100")
}
