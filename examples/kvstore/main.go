// Command kvstore is the tutorial reliable server (docs/programming-guide.md,
// "Reliable servers"): a key-value store written only against the public
// servers API. The demo runs it on one kernel node with a mirrored STM
// bank, updates it from an application client (a recovery unit) and an
// external client, crashes the server and restarts it from STM, and shows
// what survived: everything checkpointed and everything an external client
// was told, and nothing of the application's unfinished recovery unit.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ftm-in-go/ftm/examples/kvstore/kv"
	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/stm"
)

func main() {
	if err := demo(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "kvstore:", err)
		os.Exit(1)
	}
}

// host is what one node runs: a task, its name service and a driver (the
// recovery units of this node, the protocol port, the STM bank).
type host struct {
	task   *kernel.Task
	names  *names.Kernel
	driver *servers.Driver
}

func newHost(node *kernel.Node, bank *stm.Bank, name string) (*host, error) {
	task, err := node.NewTask(name)
	if err != nil {
		return nil, err
	}
	ns := names.NewKernel(task, nil)
	d, err := servers.NewDriver(servers.DriverConfig{Host: name, Task: task, Bank: bank, Names: ns})
	if err != nil {
		return nil, err
	}
	d.Start()
	return &host{task: task, names: ns, driver: d}, nil
}

// runKV starts the kv server on h and returns a stop function (a crash:
// the server's memory is dropped; the bank keeps what was committed).
func runKV(ctx context.Context, h *host) func() {
	ctx, cancel := context.WithCancel(ctx)
	srv := kv.New(servers.Config{Name: "kv", Driver: h.driver})
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	return func() { cancel(); <-done; h.driver.Close() }
}

func demo(ctx context.Context) error {
	node := kernel.NewNode(kernel.Config{Name: "demo"})
	defer node.Shutdown()
	bank := stm.NewBank(stm.Config{})
	if err := bank.Attach(ctx, stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{}))); err != nil {
		return err
	}
	srvHost, err := newHost(node, bank, "server-host")
	if err != nil {
		return err
	}
	stop := runKV(ctx, srvHost)

	app, ext, closeClients, err := newClients(node, bank)
	if err != nil {
		return err
	}
	defer closeClients()

	// 1. The application updates and checkpoints: both RUs commit together.
	if _, err := call(ctx, kv.Put, app, kv.PutReq{Key: "apples", Value: 10}); err != nil {
		return err
	}
	if err := app.Checkpoint(ctx); err != nil {
		return err
	}
	fmt.Println("app: put apples=10, checkpoint committed")

	// 2. An external client's update is durable when it is answered.
	if _, err := call(ctx, kv.Add, ext, kv.AddReq{Key: "pears", By: 3}); err != nil {
		return err
	}
	fmt.Println("external: add pears+3 acknowledged (already in STM)")

	// 3. The application updates again but does not checkpoint...
	unfinished := app.RU()
	if _, err := call(ctx, kv.Put, app, kv.PutReq{Key: "apples", Value: 99}); err != nil {
		return err
	}
	fmt.Println("app: put apples=99, no checkpoint yet")

	// 4. ... and the server crashes: its memory is gone, the bank is not.
	stop()
	srvHost, err = newHost(node, bank, "server-host")
	if err != nil {
		return err
	}
	stop = runKV(ctx, srvHost)
	defer stop()
	fmt.Println("server: crashed and restarted from STM")

	// The application's RU depended on the lost server RU: it aborts (the
	// abort wave reaches it before or during its next checkpoint).
	if err := app.Checkpoint(ctx); err != nil && !errors.Is(err, servers.ErrAborted) {
		return err
	}
	fmt.Printf("app: recovery unit %s %s with the server's lost one (the app restarts from its checkpoint)\n",
		unfinished, app.Outcome(unfinished))
	for _, k := range []string{"apples", "pears"} {
		v, err := call(ctx, kv.Get, ext, k)
		if err != nil {
			return err
		}
		fmt.Printf("after restart: %s=%d\n", k, v)
	}
	return nil
}

// newClients returns the demo's two clients: an application client (a
// recovery unit, on a driver of its own) and an external one (no recovery
// unit: a task of its own that resolves names through the kernel).
func newClients(node *kernel.Node, bank *stm.Bank) (app, ext *servers.Client, closeAll func(), err error) {
	appHost, err := newHost(node, bank, "app-host")
	if err != nil {
		return nil, nil, nil, err
	}
	app, err = servers.NewClient(servers.ClientConfig{Name: "app", Driver: appHost.driver})
	if err != nil {
		appHost.driver.Close()
		return nil, nil, nil, err
	}
	closeApp := func() { app.Close(); appHost.driver.Close() }
	extTask, err := node.NewTask("external")
	if err == nil {
		ext, err = servers.NewClient(servers.ClientConfig{Name: "ext", Task: extTask, Names: names.NewKernel(extTask, nil)})
	}
	if err != nil {
		closeApp()
		return nil, nil, nil, err
	}
	return app, ext, func() { ext.Close(); closeApp() }, nil
}

// call makes one call with a deadline.
func call[Req, Resp any](ctx context.Context, m servers.Method[Req, Resp], c *servers.Client, req Req) (Resp, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return m.Call(ctx, c, req)
}
