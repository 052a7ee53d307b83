package kv_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/ftm-in-go/ftm/examples/kvstore/kv"
	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/stm"
)

// The kv server on one node, called by an application client: each
// operation is a declared servers.Method, and Get's declared error keeps
// its identity on the client's side of the wire.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	node := kernel.NewNode(kernel.Config{Name: "n1"})
	defer node.Shutdown()
	bank := stm.NewBank(stm.Config{})
	_ = bank.Attach(ctx, stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{})))
	task, _ := node.NewTask("host")
	d, _ := servers.NewDriver(servers.DriverConfig{Host: "host", Task: task, Bank: bank, Names: names.NewKernel(task, nil)})
	d.Start()
	defer d.Close()

	srv, err := kv.New(servers.Config{Name: kv.Name, Driver: d})
	if err != nil {
		fmt.Println(err) // a state type a checkpoint would not keep whole
		return
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	app, _ := servers.NewClient(servers.ClientConfig{Name: "app", Driver: d})
	defer app.Close()
	n, _ := kv.Add.Call(ctx, app, kv.AddReq{Key: "apples", By: 3})
	fmt.Println("apples:", n)
	_, err = kv.Get.Call(ctx, app, "pears")
	fmt.Println(err, errors.Is(err, kv.ErrNoKey))
	fmt.Println(app.Checkpoint(ctx))
	// Output:
	// apples: 3
	// kv.get: no such key true
	// <nil>
}
