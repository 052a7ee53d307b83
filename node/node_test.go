package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/link/linkcert"
	"github.com/ftm-in-go/ftm/node/control"
	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/task"
)

// counter is a user's reliable server, as a node binary would register it.
type counter struct{ N int64 }

var addOp = servers.NewMethod[int64, int64]("add", servers.Update)

func newCounter(cfg servers.Config) (*servers.Server[counter], error) {
	srv, err := servers.NewServer(cfg, func() counter { return counter{} })
	if err != nil {
		return nil, err
	}
	servers.Handle(srv, addOp, func(_ *servers.Call, s *counter, by int64) (int64, error) {
		s.N += by
		return s.N, nil
	})
	return srv, nil
}

// square is a user's stable program.
func square(_ context.Context, _ *task.Task, args []string) (string, error) {
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("squared %d", n*n), nil
}

func TestRegistrationsAreChecked(t *testing.T) {
	ok := Program("p", square)
	for name, regs := range map[string][]Registration{
		"repeated program":      {ok, ok},
		"program without name":  {Program("", square)},
		"nil program":           {Program("p", nil)},
		"server named app":      {Server(appName, newCounter)},
		"server with a slash":   {Server("a/b", newCounter)},
		"repeated server":       {Server("c", newCounter), Server("c", newCounter)},
		"failpoints, no arming": {Failpoints("a:p=kill", nil)},
		"negative restarts":     {Program("p", square).WithRestart(task.Restart{Max: -1})},
	} {
		_, err := newRegistry(regs)
		require.ErrorIs(t, err, ErrRegistration, name)
	}
	_, err := newRegistry([]Registration{ok, Server("c", newCounter, Op(addOp)), Failpoints("", nil)})
	require.NoError(t, err)
	err = Run(context.Background(), Config{Dir: t.TempDir(), Name: "n1"}, ok, ok)
	require.ErrorIs(t, err, ErrRegistration, "Run checks before it starts anything")
}

// Two nodes run in-process through the library, carrying a user's program
// and server: the program runs as a stable task and the server answers a
// durable call, both through the control socket ftmctl uses.
func TestPairOfLibraryNodesRunsUserProgramAndServer(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := newPairDir(t, "n1", "n2")
	var flakyRuns atomic.Int32
	flaky := func(context.Context, *task.Task, []string) (string, error) {
		if flakyRuns.Add(1) == 1 {
			panic("flaky: first run")
		}
		return "steady", nil
	}
	regs := []Registration{Program("square", square), Server("counter", newCounter, Op(addOp)), Version("test"),
		Program("flaky", flaky).WithRestart(task.Restart{Max: 1})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	for _, name := range []string{"n1", "n2"} {
		go func() { done <- Run(ctx, Config{Dir: dir, Name: name, Logger: zap.NewNop()}, regs...) }()
	}
	defer func() {
		cancel()
		for range 2 {
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(20 * time.Second):
				t.Fatal("a node did not stop after its context ended")
			}
		}
	}()
	c := newTestClient(dir, "n1")
	eventually(t, "both banks of n1 and n2 have a backup and n1 runs its servers", func() bool {
		var st control.Status
		var ru control.RUNode
		if c.do(http.MethodGet, "/status", nil, &st) != nil || c.do(http.MethodGet, "/ru", nil, &ru) != nil {
			return false
		}
		return st.Linked && st.Version == "test" && len(ru.Hosts) == 1 && ru.Hosts[0].Running && backedUp(st.STM)
	})

	runUserPrograms(t, c)
	callUserServer(t, c)
}

// runUserPrograms runs the user's program to its result, is refused an
// unknown one, and sees the program that panicked once restarted by its
// policy.
func runUserPrograms(t *testing.T, c *testClient) {
	var rec task.Record
	require.NoError(t, c.do(http.MethodPost, "/run", control.RunRequest{Program: "square", Args: []string{"12"}}, &rec))
	eventually(t, "the task ends with its result", func() bool {
		var recs []task.Record
		return c.do(http.MethodGet, "/ps", nil, &recs) == nil && len(recs) == 1 && recs[0].Result == "squared 144"
	})
	require.ErrorContains(t, c.do(http.MethodPost, "/run", control.RunRequest{Program: "cube"}, &rec), "404")
	require.NoError(t, c.do(http.MethodPost, "/run", control.RunRequest{Program: "flaky"}, &rec))
	eventually(t, "the program that panicked once is restarted by its policy and ends", func() bool {
		var recs []task.Record
		return c.do(http.MethodGet, "/ps", nil, &recs) == nil && len(recs) == 2 &&
			recs[1].State == task.StateDone && recs[1].Result == "steady" && recs[1].Restarts == 1
	})
}

// callUserServer makes durable calls of the user's server and sees an
// unknown operation and a bad argument refused.
func callUserServer(t *testing.T, c *testClient) {
	for i, want := range []string{"5", "12"} {
		var rep control.CallReply
		arg := json.RawMessage(strconv.Itoa([]int{5, 7}[i]))
		require.NoError(t, c.do(http.MethodPost, "/call", control.CallRequest{Server: "n1/counter", Op: "add", Arg: arg}, &rep))
		require.Equal(t, want, string(bytes.TrimSpace(rep.Result)))
		require.True(t, rep.Durable, "an external call is answered once the server's RU committed")
	}
	var rep control.CallReply
	require.ErrorContains(t, c.do(http.MethodPost, "/call", control.CallRequest{Server: "n1/counter", Op: "sub", Arg: json.RawMessage("1")}, &rep), "no operation")
	require.ErrorContains(t, c.do(http.MethodPost, "/call", control.CallRequest{Server: "n1/counter", Op: "add", Arg: json.RawMessage(`"x"`)}, &rep), "bad argument")
}

func backedUp(st *pair.StableStatus) bool {
	if st == nil {
		return false
	}
	held := 0
	for _, b := range st.Banks {
		if b.Role == pair.RoleBackup && !b.Ready || b.Role != pair.RoleBackup && b.CommitsRefused {
			return false
		}
		held++
	}
	return held == 2
}

// newPairDir writes a pair's directory as ftmctl pair up does.
func newPairDir(t *testing.T, names ...string) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	st := &control.PairState{Heartbeat: "50ms", Created: time.Now().UTC()}
	for _, n := range names {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		st.Nodes = append(st.Nodes, control.NodeState{Name: n, Addr: l.Addr().String()})
		require.NoError(t, l.Close())
	}
	require.NoError(t, control.SavePair(dir, st))
	_, err = control.ReadOrCreateSecret(dir)
	require.NoError(t, err)
	require.NoError(t, linkcert.Create(dir, names...))
	return dir
}

// testClient talks to a node's control socket with the pair's token.
type testClient struct {
	http  *http.Client
	token string
}

func newTestClient(dir, node string) *testClient {
	sock := filepath.Join(dir, node+".sock")
	secret, _ := control.ReadSecret(dir)
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	return &testClient{http: &http.Client{Transport: tr, Timeout: 15 * time.Second},
		token: control.AuthScheme + hex.EncodeToString(control.Token(secret, node))}
}

func (c *testClient) do(method, path string, body, v any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://node"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set(control.AuthHeader, c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return errors.New(strconv.Itoa(resp.StatusCode) + ": " + string(msg))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Main's flags are the ones ftmctl pair up passes; a bad command line
// exits with status 2 and says why, before anything starts.
func TestMainFlags(t *testing.T) {
	var errOut bytes.Buffer
	require.Equal(t, 2, mainCode([]string{"mynode"}, &errOut, nil))
	require.Contains(t, errOut.String(), "mynode: --name is required")
	errOut.Reset()
	require.Equal(t, 2, mainCode([]string{"mynode", "--name", "n1", "--bogus"}, &errOut, nil))
	require.Contains(t, errOut.String(), "flag provided but not defined: -bogus")
	cfg, err := parseFlags("mynode", []string{"--dir", "/d", "--name", "n1", "--metrics-addr", "127.0.0.1:0"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, Config{Dir: "/d", Name: "n1", MetricsAddr: "127.0.0.1:0"}, cfg)
	errOut.Reset()
	require.Equal(t, 1, mainCode([]string{"mynode", "--dir", t.TempDir(), "--name", "n1"}, &errOut, nil))
	require.Contains(t, errOut.String(), "mynode: ", "no pair there: one line, status 1")
}

// runNode runs one library node until the returned stop is called; stop
// returns Run's error.
func runNode(t *testing.T, dir, name string, regs []Registration) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Config{Dir: dir, Name: name, Logger: zap.NewNop()}, regs...) }()
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatalf("node %s did not stop after its context ended", name)
			return nil
		}
	}
}

// call adds by to the counter unit through node's external client and
// returns the durable total.
func (c *testClient) add(unit string, by int) (string, error) {
	var rep control.CallReply
	err := c.do(http.MethodPost, "/call", control.CallRequest{Server: unit, Op: "add", Arg: json.RawMessage(strconv.Itoa(by))}, &rep)
	return string(bytes.TrimSpace(rep.Result)), err
}

// A library node stops; its partner takes its bank over, and once the
// node is run again (it rejoins as the backup) the partner runs the
// user's server of the taken-over bank from its state there: an
// acknowledged update made before the stop is still counted.
func TestLibraryNodeTakeoverKeepsAUsersServerState(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := newPairDir(t, "n1", "n2")
	regs := []Registration{Server("counter", newCounter, Op(addOp))}
	stop1, stop2 := runNode(t, dir, "n1", regs), runNode(t, dir, "n2", regs)
	defer func() { require.NoError(t, stop2()) }()
	c1, c2 := newTestClient(dir, "n1"), newTestClient(dir, "n2")
	eventually(t, "n1 runs n1/counter", func() bool { _, err := c1.add("n1/counter", 0); return err == nil })
	got, err := c1.add("n1/counter", 12)
	require.NoError(t, err)
	require.Equal(t, "12", got)

	require.NoError(t, stop1())
	eventually(t, "n2 took n1's bank over", func() bool {
		var st control.Status
		return c2.do(http.MethodGet, "/status", nil, &st) == nil && st.STM != nil && st.STM.Takeovers == 1
	})
	stop1 = runNode(t, dir, "n1", regs)
	defer func() { require.NoError(t, stop1()) }()
	eventually(t, "n2 runs n1/counter again, with n1 as the backup", func() bool {
		got, err = c2.add("n1/counter", 1)
		return err == nil
	})
	require.Equal(t, "13", got, "the acknowledged 12 survived the takeover")
}

// --version exits 0 before anything starts; a node name that is not a
// plain name (it would put the node's files outside --dir) exits 2.
func TestMainVersionAndName(t *testing.T) {
	var errOut bytes.Buffer
	require.Equal(t, 0, mainCode([]string{"mynode", "--version"}, &errOut, nil))
	require.Empty(t, errOut.String())
	for _, name := range []string{"../escaped", "a/b", ".hidden", "-x", "a b"} {
		errOut.Reset()
		require.Equal(t, 2, mainCode([]string{"mynode", "--dir", t.TempDir(), "--name", name}, &errOut, nil), name)
		require.Contains(t, errOut.String(), "bad node name", name)
		require.Equal(t, 1, strings.Count(errOut.String(), "\n"), name)
	}
}
