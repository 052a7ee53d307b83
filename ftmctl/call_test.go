package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ftmctl call with real processes: JSON in and out to the kv server every
// node registers; one line and exit status 1 for every kind of refusal;
// an acknowledged update is still there after its node is killed (and
// comes back as the backup, so that the survivor commits again).
func TestCallAnyServerWithJSON(t *testing.T) {
	t.Parallel() // real processes in a directory of its own, on free ports; no CPU-bound workload
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin, dir, _ := startPair(t)
	call := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append(append([]string{"call"}, args...), "--dir", dir)...).Output()
		return strings.TrimSpace(string(out)), err
	}
	eventually(t, "n1's servers run", func() bool {
		out, err := call("n1/kv", "put", `{"Key":"a","Value":5}`)
		return err == nil && out == "5"
	})
	out, err := call("n1/kv", "add", `{"Key": "a", "By": 2}`)
	require.NoError(t, err)
	require.Equal(t, "7", out)
	out, err = call("n1/kv", "len")
	require.NoError(t, err)
	require.Equal(t, "1", out)

	for args, want := range map[[3]string]string{
		{"n1/kv", "get", `"nokey"`}:                 "ftmctl: node n1: n1/kv.get: no such key",
		{"n1/kv", "del", `"a"`}:                     `ftmctl: node n1: no operation "del" of a server "n1/kv" is registered on node n1`,
		{"n1/bank", "get", `"a"`}:                   `ftmctl: node n1: no operation "get" of a server "n1/bank" is registered on node n1`,
		{"n9/kv", "get", `"a"`}:                     `ftmctl: no running node runs the servers of bank "n9" (banks served: n1, n2)`,
		{"kv", "get", `"a"`}:                        `ftmctl: bad server "kv": want BANK/SERVER, such as n1/kv`,
		{"n1/kv", "put", `{"Key":"a",`}:             `ftmctl: bad JSON argument "{\"Key\":\"a\",": unexpected end of JSON input`,
		{"n1/kv", "put", `{"Key":"a","Value":"x"}`}: "ftmctl: node n1: bad argument: n1/kv.put: json: cannot unmarshal string",
	} {
		require.Contains(t, oneLineError(t, bin, "call", args[0], args[1], args[2], "--dir", dir), want, "%v", args)
	}

	out, err = ftmctl(t, bin, "crash", "n1", "--dir", dir)
	require.NoError(t, err, out)
	out, err = ftmctl(t, bin, "pair", "up", "--dir", dir) // n1 back as the backup: n2 commits again
	require.NoError(t, err, out)
	eventually(t, "n2 serves n1's bank with the acknowledged value", func() bool {
		out, err := call("n1/kv", "get", `"a"`)
		return err == nil && out == "7"
	})
}
