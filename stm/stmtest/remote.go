package stmtest

import (
	"context"
	"fmt"

	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/stm"
)

// Channel is the STM channel of a node link: its Mux channel for
// link.ServiceSTM.
func Channel(l link.Link) (link.Link, error) {
	ch, err := link.NewMux(l, nil).Channel(link.ServiceSTM)
	if err != nil {
		return nil, fmt.Errorf("stmtest: STM channel: %w", err)
	}
	return ch, nil
}

// DialBank dials the backup node at addr and returns a bank mirrored to it.
func DialBank(ctx context.Context, addr string, cfg link.Config) (*stm.Bank, error) {
	l, err := link.Dial(ctx, addr, cfg)
	if err != nil {
		return nil, fmt.Errorf("stmtest: dial the backup at %s: %w", addr, err)
	}
	ch, err := Channel(l)
	if err != nil {
		return nil, err
	}
	bank := stm.NewBank(stm.Config{})
	if err := bank.Attach(ctx, stm.NewRemoteMirror(ch, stm.RemoteConfig{})); err != nil {
		return nil, fmt.Errorf("stmtest: attach the remote backup: %w", err)
	}
	return bank, nil
}

// ServeOne accepts one primary on ln and serves it backup bank k until the
// link dies; it returns what ended the service.
func ServeOne(ctx context.Context, ln *link.Listener, k *stm.Backup) error {
	node, err := ln.Accept(ctx)
	if err != nil {
		return fmt.Errorf("stmtest: accept a primary: %w", err)
	}
	ch, err := Channel(node)
	if err != nil {
		return err
	}
	return stm.ServeBackup(ctx, ch, k)
}
