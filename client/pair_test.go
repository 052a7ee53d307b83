package client

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/servers"
)

// The kv server the default node binary registers on every bank
// (examples/kvstore/kv), declared here as another program would: the same
// names, attributes, request and reply types, and declared errors.
type putReq struct {
	Key   string
	Value int64
}

type addReq struct {
	Key string
	By  int64
}

var (
	errNoKey = errors.New("no such key")
	kvPut    = servers.NewMethod[putReq, int64]("put", servers.Update)
	kvAdd    = servers.NewMethod[addReq, int64]("add", servers.Update)
	kvGet    = servers.NewMethod[string, int64]("get", servers.Read, errNoKey)
	kvDel    = servers.NewMethod[string, int64]("del", servers.Update) // not registered
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// TestMain removes the binaries the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binaries builds ftmctl, the default node binary next to it and the
// benchmark's node binary, once.
func binaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "ftm-client-bin")
		if buildErr != nil {
			return
		}
		for pkg, out := range map[string]string{"../ftmctl": "ftmctl", "../examples/ftmnode": "ftmnode", "./testdata/benchnode": "benchnode"} {
			if b, err := exec.Command("go", "build", "-o", filepath.Join(binDir, out), pkg).CombinedOutput(); err != nil {
				buildErr = errors.New(string(b))
				return
			}
		}
	})
	require.NoError(t, buildErr)
	return filepath.Join(binDir, "ftmctl")
}

func ftmctl(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(binaries(t), args...).CombinedOutput()
	require.NoError(t, err, "ftmctl %v: %s", args, out)
}

// bankRole is the role in which node holds bank, as `ftmctl status`
// shows it ("" when it does not hold it).
func bankRole(t testing.TB, dir, node, bank string) string {
	t.Helper()
	out, err := exec.Command(binaries(t), "status", "-o", "json", "--dir", dir).Output()
	require.NoError(t, err)
	var rows []struct {
		Node   string `json:"node"`
		Status struct {
			STM struct {
				Banks []struct{ Name, Role string } `json:"banks"`
			} `json:"stm"`
		} `json:"status"`
	}
	require.NoError(t, json.Unmarshal(out, &rows), "%s", out)
	for _, r := range rows {
		for _, b := range r.Status.STM.Banks {
			if r.Node == node && b.Name == bank {
				return b.Role
			}
		}
	}
	return ""
}

// startPair starts two node processes (n1, n2; of the default node
// binary, or of the one extra names with --exec) and returns the pair's
// directory; the pair goes down at the end of the test.
func startPair(t testing.TB, extra ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := filepath.Join(t.TempDir(), "pair")
	ftmctl(t, append([]string{"pair", "up", "--dir", dir, "--nodes", "n1,n2", "--allow-faults"}, extra...)...)
	t.Cleanup(func() { _ = exec.Command(binaries(t), "pair", "down", "--dir", dir, "--grace", "1s").Run() })
	return dir
}

func dialPair(t testing.TB, dir string) *Conn {
	t.Helper()
	c, err := DialPair(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Typed calls from another process: results, declared errors, refusals,
// and concurrent callers.
func TestTypedCallsToARealPair(t *testing.T) {
	c := dialPair(t, startPair(t))
	ctx := testCtx(t, 30*time.Second)
	n, err := Call(ctx, c, kvPut.At("n1/kv"), putReq{Key: "a", Value: 5}) // retried until the servers run
	require.NoError(t, err)
	require.EqualValues(t, 5, n)
	n, err = Call(ctx, c, kvAdd.At("n2/kv"), addReq{Key: "a", By: 2})
	require.NoError(t, err)
	require.EqualValues(t, 2, n, "n2's kv is another server")

	_, err = Call(ctx, c, kvGet.At("n1/kv"), "nokey")
	require.ErrorIs(t, err, errNoKey)
	var re *servers.RemoteError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "n1/kv.get: no such key", err.Error())
	_, err = Call(ctx, c, kvDel.At("n1/kv"), "a")
	require.ErrorIs(t, err, ErrRefused)
	require.Contains(t, err.Error(), `no operation "del"`)
	_, err = Call(ctx, c, kvGet.At("kv"), "a")
	require.ErrorIs(t, err, ErrRefused)

	dials := c.nodes[0].dials.Load()
	for range 20 {
		_, err := Call(ctx, c, kvGet.At("n1/kv"), "a")
		require.NoError(t, err)
	}
	require.Equal(t, dials, c.nodes[0].dials.Load(), "sequential calls keep their connection")

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				_, err := Call(ctx, c, kvAdd.At("n1/kv"), addReq{Key: "a", By: 1})
				require.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	n, err = Call(ctx, c, kvGet.At("n1/kv"), "a")
	require.NoError(t, err)
	require.EqualValues(t, 5+80, n)
}

// A request sent again with the same id, to either node, is answered from
// the server's duplicate table: executed once.
func TestRetriedRequestIsExecutedOnce(t *testing.T) {
	c := dialPair(t, startPair(t))
	ctx := testCtx(t, 30*time.Second)
	_, err := Call(ctx, c, kvPut.At("n1/kv"), putReq{Key: "a", Value: 1})
	require.NoError(t, err)
	body := []byte(`{"server":"n1/kv","op":"add","arg":{"Key":"a","By":10},"id":{"client":"retry-test","seq":7}}`)
	for _, n := range []*nodeConn{c.nodes[0], c.nodes[0], c.nodes[1]} {
		rep, err := n.post(ctx, body)
		require.NoError(t, err, "via %s", n.name)
		require.JSONEq(t, "11", string(rep.Result), "via %s", n.name)
		require.True(t, rep.Durable)
	}
	n, err := Call(ctx, c, kvGet.At("n1/kv"), "a")
	require.NoError(t, err)
	require.EqualValues(t, 11, n, "the add ran once")
}

// Callers keep adding while the node running their server is killed with
// SIGKILL and restarted: every call is acknowledged (retried on the
// partner, which takes the bank over) and the count is exactly the number
// of acknowledged adds — none lost, none applied twice.
func TestCallsRideOutATakeover(t *testing.T) {
	dir := startPair(t)
	c := dialPair(t, dir)
	ctx := testCtx(t, 60*time.Second)
	_, err := Call(ctx, c, kvPut.At("n1/kv"), putReq{Key: "a", Value: 0})
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := 0
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := Call(ctx, c, kvAdd.At("n1/kv"), addReq{Key: "a", By: 1}); err != nil {
					t.Errorf("add: %v", err)
					return
				}
				mu.Lock()
				acked++
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	ftmctl(t, "crash", "n1", "--dir", dir)
	ftmctl(t, "pair", "up", "--dir", dir) // n1 back as the backup: n2 commits n1's bank again
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	n, err := Call(ctx, c, kvGet.At("n1/kv"), "a")
	require.NoError(t, err)
	require.EqualValues(t, acked, n, "every acknowledged add, once")
	// n1 was restarted at once, so the client may be answered through
	// either node; what matters is where n1's bank lives: n2 took it over.
	require.Equal(t, "taken-over", bankRole(t, dir, "n2", "n1"), "n2 answers for n1's bank now")
	require.Greater(t, acked, 0)
	t.Logf("%d adds acknowledged through the takeover", acked)
}
