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
	"io"
	"os"
	"time"

	"github.com/ftm-in-go/ftm/examples/kvstore/kv"
	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/ftm-in-go/ftm/stm"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kvstore:", err)
		os.Exit(1)
	}
}

// run sets the demo up and plays its steps in order, telling out what
// each did.
func run(ctx context.Context, out io.Writer) error {
	d, err := newDemo(ctx, out)
	if err != nil {
		return err
	}
	defer d.close()
	for _, step := range []func() error{d.checkpointedUpdate, d.externalUpdate, d.unfinishedUpdate,
		d.crashServer, d.whatSurvived} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// demo is the tutorial's world: one kernel node and one mirrored bank,
// the host running the kv server, an application client (a recovery unit,
// on a host of its own) and an external client (no recovery unit).
type demo struct {
	ctx        context.Context
	out        io.Writer
	node       *kernel.Node
	bank       *stm.Bank
	stopServer func()
	app, ext   *servers.Client
	closers    []func() // run in reverse by close
	unfinished ru.ID    // the application RU left without a checkpoint
}

func newDemo(ctx context.Context, out io.Writer) (*demo, error) {
	d := &demo{ctx: ctx, out: out, node: kernel.NewNode(kernel.Config{Name: "demo"}), bank: stm.NewBank(stm.Config{})}
	d.closers = append(d.closers, d.node.Shutdown)
	err := d.bank.Attach(ctx, stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{})))
	if err == nil {
		err = d.startServer()
	}
	if err == nil {
		err = d.newAppClient()
	}
	if err == nil {
		err = d.newExternalClient()
	}
	if err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

func (d *demo) close() {
	if d.stopServer != nil {
		d.stopServer()
	}
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
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

// startServer runs the kv server on a new server host; stopServer is a
// crash: the server's memory is dropped, the bank keeps what committed.
func (d *demo) startServer() error {
	h, err := newHost(d.node, d.bank, "server-host")
	if err != nil {
		return err
	}
	srv, err := kv.New(servers.Config{Name: kv.Name, Driver: h.driver})
	if err != nil {
		h.driver.Close()
		return err
	}
	ctx, cancel := context.WithCancel(d.ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	d.stopServer = func() { cancel(); <-done; h.driver.Close() }
	return nil
}

// newAppClient makes the application client, on a driver of its own.
func (d *demo) newAppClient() error {
	h, err := newHost(d.node, d.bank, "app-host")
	if err != nil {
		return err
	}
	d.closers = append(d.closers, h.driver.Close)
	d.app, err = servers.NewClient(servers.ClientConfig{Name: "app", Driver: h.driver})
	if err != nil {
		return err
	}
	d.closers = append(d.closers, d.app.Close)
	return nil
}

// newExternalClient makes the external client: a task of its own that
// resolves names through the kernel.
func (d *demo) newExternalClient() error {
	t, err := d.node.NewTask("external")
	if err != nil {
		return err
	}
	d.ext, err = servers.NewClient(servers.ClientConfig{Name: "ext", Task: t, Names: names.NewKernel(t, nil)})
	if err != nil {
		return err
	}
	d.closers = append(d.closers, d.ext.Close)
	return nil
}

// checkpointedUpdate: the application updates and checkpoints; both RUs
// commit together.
func (d *demo) checkpointedUpdate() error {
	if _, err := call(d.ctx, kv.Put, d.app, kv.PutReq{Key: "apples", Value: 10}); err != nil {
		return err
	}
	if err := d.app.Checkpoint(d.ctx); err != nil {
		return err
	}
	fmt.Fprintln(d.out, "app: put apples=10, checkpoint committed")
	return nil
}

// externalUpdate: an external client's update is durable when answered.
func (d *demo) externalUpdate() error {
	if _, err := call(d.ctx, kv.Add, d.ext, kv.AddReq{Key: "pears", By: 3}); err != nil {
		return err
	}
	fmt.Fprintln(d.out, "external: add pears+3 acknowledged (already in STM)")
	return nil
}

// unfinishedUpdate: the application updates again but does not checkpoint.
func (d *demo) unfinishedUpdate() error {
	d.unfinished = d.app.RU()
	if _, err := call(d.ctx, kv.Put, d.app, kv.PutReq{Key: "apples", Value: 99}); err != nil {
		return err
	}
	fmt.Fprintln(d.out, "app: put apples=99, no checkpoint yet")
	return nil
}

// crashServer: the server crashes, its memory is gone, the bank is not;
// it runs again from STM.
func (d *demo) crashServer() error {
	d.stopServer()
	d.stopServer = nil
	if err := d.startServer(); err != nil {
		return err
	}
	fmt.Fprintln(d.out, "server: crashed and restarted from STM")
	return nil
}

// whatSurvived: the application's RU depended on the lost server RU, so it
// aborts (the abort wave reaches it before or during its next checkpoint);
// the external client reads what is left.
func (d *demo) whatSurvived() error {
	if err := d.app.Checkpoint(d.ctx); err != nil && !errors.Is(err, servers.ErrAborted) {
		return err
	}
	fmt.Fprintf(d.out, "app: recovery unit %s %s with the server's lost one (the app restarts from its checkpoint)\n",
		d.unfinished, d.app.Outcome(d.unfinished))
	for _, k := range []string{"apples", "pears"} {
		v, err := call(d.ctx, kv.Get, d.ext, k)
		if err != nil {
			return err
		}
		fmt.Fprintf(d.out, "after restart: %s=%d\n", k, v)
	}
	return nil
}

// call makes one call with a deadline.
func call[Req, Resp any](ctx context.Context, m servers.Method[Req, Resp], c *servers.Client, req Req) (Resp, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return m.Call(ctx, c, req)
}
