package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/examples/kvstore/kv"
	"github.com/ftm-in-go/ftm/internal/proctest"
	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/stretchr/testify/require"
)

// The two-process test: this test binary re-executes itself as node A (the
// kv server, its STM bank mirrored to B) and node B (A's backup bank and an
// external client), joined by kernel/link's authenticated TCP link on
// loopback with the kernel's ports and STM on their Mux channels. The test
// SIGKILLs A mid-stream; B takes A's bank over, restarts the kv server on
// it, and the client, which retries every request with the same id until
// it is answered, must find each acknowledged update exactly once.
// BenchmarkDurableUpdate's backup bank is the third role.
var roles = proctest.Roles{"A": nodeA, "B": nodeB, "backup": proctest.BoundToParent(durableBackup)}

func TestHelperProcess(t *testing.T) { os.Exit(proctest.Dispatch(t, os.Stderr, roles)) }

func linkConfig(name string) link.Config {
	return link.Config{Name: name, Secret: []byte("kvstore-two-process-test-secret!")}
}

// attach joins a kernel node to the link and returns the STM channel.
func attach(node *kernel.Node, l link.Link) (link.Link, error) {
	mux := link.NewMux(l, nil)
	ports, err := mux.Channel(link.ServicePorts)
	if err != nil {
		return nil, err
	}
	if err := node.AttachLink(ports); err != nil {
		return nil, err
	}
	return mux.Channel(link.ServiceSTM)
}

// serveKV runs a driver and the kv server on node over bank.
func serveKV(ctx context.Context, node *kernel.Node, bank *stm.Bank, hostName string) error {
	task, err := node.NewTask(hostName)
	if err != nil {
		return err
	}
	d, err := servers.NewDriver(servers.DriverConfig{Host: hostName, Task: task, Bank: bank,
		Names: names.NewKernel(task, nil)})
	if err != nil {
		return err
	}
	srv, err := kv.New(servers.Config{Name: kv.Name, Driver: d})
	if err != nil {
		d.Close()
		return err
	}
	d.Start()
	go func() { _ = srv.Run(ctx) }()
	return nil
}

// nodeA serves kv with its bank mirrored to B (at the address it is
// given) until it is killed.
func nodeA(args []string) error {
	ctx := context.Background()
	l, err := link.Dial(ctx, args[0], linkConfig("A"))
	if err != nil {
		return err
	}
	node := kernel.NewNode(kernel.Config{Name: "A"})
	stmCh, err := attach(node, l)
	if err != nil {
		return err
	}
	bank := stm.NewBank(stm.Config{})
	if err := bank.Attach(ctx, stm.NewRemoteMirror(stmCh, stm.RemoteConfig{})); err != nil {
		return err
	}
	if err := serveKV(ctx, node, bank, "A-host"); err != nil {
		return err
	}
	fmt.Println("serving")
	select {}
}

// nodeB holds A's backup bank and runs the external client; when A dies it
// takes the bank over and restarts kv on it. Its argument is the number of
// calls the client makes.
func nodeB(args []string) error {
	ctx := context.Background()
	calls, _ := strconv.Atoi(args[0])
	node, stmCh, err := acceptA(ctx)
	if err != nil {
		return err
	}
	tookOver := takeOverWhenALeaves(ctx, node, stmCh)
	c, err := kvClient(node)
	if err != nil {
		return err
	}
	if err := addEach(ctx, c, calls); err != nil {
		return err
	}
	select {
	case err := <-tookOver:
		if err != nil {
			return err
		}
	case <-time.After(30 * time.Second):
		return errors.New("A was never lost")
	}
	if err := printFinal(ctx, c, calls); err != nil {
		return err
	}
	fmt.Println("done")
	return nil
}

// acceptA prints B's address, accepts A's link and joins B's kernel node
// to it; it returns the node and the link's STM channel.
func acceptA(ctx context.Context) (*kernel.Node, link.Link, error) {
	ln, err := link.Listen("127.0.0.1:0", linkConfig("B"))
	if err != nil {
		return nil, nil, err
	}
	fmt.Printf("addr %s\n", ln.Addr())
	l, err := ln.Accept(ctx)
	if err != nil {
		return nil, nil, err
	}
	node := kernel.NewNode(kernel.Config{Name: "B"})
	stmCh, err := attach(node, l)
	return node, stmCh, err
}

// takeOverWhenALeaves serves A's backup bank on stmCh; when A is gone it
// takes the bank over and restarts kv on it, printing "took over".
func takeOverWhenALeaves(ctx context.Context, node *kernel.Node, stmCh link.Link) <-chan error {
	backup := stm.NewBackup(stm.BackupConfig{})
	tookOver := make(chan error, 1)
	go func() {
		_ = stm.ServeBackup(ctx, stmCh, backup) // returns when A is gone
		bank, rep, err := backup.Takeover(ctx, stm.Config{})
		if err == nil && len(rep.InDoubt) > 0 {
			err = fmt.Errorf("unexpected in-doubt groups %v", rep.InDoubt)
		}
		if err == nil { // commits need a backup: a local one stands in for a re-joined partner
			err = bank.Attach(ctx, stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{})))
		}
		if err == nil {
			err = serveKV(ctx, node, bank, "B-host")
		}
		if err == nil {
			fmt.Println("took over")
		}
		tookOver <- err
	}()
	return tookOver
}

// kvClient is the external client on node, retrying every request with
// the same id until it is answered.
func kvClient(node *kernel.Node) (*servers.Client, error) {
	task, err := node.NewTask("client")
	if err != nil {
		return nil, err
	}
	return servers.NewClient(servers.ClientConfig{Name: "ext", Task: task, Names: names.NewKernel(task, nil),
		Timeout: time.Second, Retries: 3000, Backoff: 10 * time.Millisecond})
}

// addEach adds 1 to keys k1..kcalls, printing "ack i" as each is answered.
func addEach(ctx context.Context, c *servers.Client, calls int) error {
	for i := 1; i <= calls; i++ {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := kv.Add.Call(cctx, c, kv.AddReq{Key: fmt.Sprintf("k%d", i), By: 1})
		cancel()
		if err != nil {
			return fmt.Errorf("call %d: %w", i, err)
		}
		fmt.Printf("ack %d\n", i)
	}
	return nil
}

// printFinal prints "final ki v" for each key.
func printFinal(ctx context.Context, c *servers.Client, calls int) error {
	for i := 1; i <= calls; i++ {
		v, err := kv.Get.Call(ctx, c, fmt.Sprintf("k%d", i))
		if err != nil {
			return fmt.Errorf("get k%d: %w", i, err)
		}
		fmt.Printf("final k%d %d\n", i, v)
	}
	return nil
}

func TestTwoProcessServerKilledRestartsOnBackup(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	const calls, killAt = 120, 40
	b := proctest.Start(t, proctest.Spec{Role: "B", Args: []string{strconv.Itoa(calls)}, Timeout: 90 * time.Second})
	addr, ok := strings.CutPrefix(b.Line(), "addr ")
	require.True(t, ok, "B did not say its address first")

	a := proctest.Start(t, proctest.Spec{Role: "A", Args: []string{addr}, Timeout: 90 * time.Second})
	require.Equal(t, "serving", a.Line())

	acked, final, tookOver, killed := map[int]bool{}, map[int]int64{}, false, false
	for line := range b.Lines() {
		switch f := strings.Fields(line); {
		case len(f) == 2 && f[0] == "ack":
			i, _ := strconv.Atoi(f[1])
			acked[i] = true
			if i == killAt && !killed {
				require.NoError(t, a.Kill()) // SIGKILL the server's node mid-stream
				killed = true
			}
		case len(f) == 3 && f[0] == "final":
			i, _ := strconv.Atoi(strings.TrimPrefix(f[1], "k"))
			v, _ := strconv.ParseInt(f[2], 10, 64)
			final[i] = v
		case line == "took over":
			tookOver = true
		case line == "done":
		default:
			t.Errorf("B said %q", line)
		}
	}
	_ = a.Wait()
	require.NoError(t, b.Wait(), "node B failed")
	require.True(t, killed && tookOver, "killed %v, took over %v", killed, tookOver)
	require.Len(t, acked, calls)
	for i := range acked {
		require.Equal(t, int64(1), final[i], "acknowledged update k%d applied %d times", i, final[i])
	}
}
