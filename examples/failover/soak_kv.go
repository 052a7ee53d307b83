package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ftm-in-go/ftm/client"
	"github.com/ftm-in-go/ftm/examples/kvstore/kv"
)

// The soak's external client: a loop of durable kv updates to one bank's
// kv server, through package client (request ids, retries on either
// node), one every 10ms or so, while the scenario kills or cuts nodes.
// Every update adds 1 to a key of its own, so at the end an acknowledged
// update must read 1 (0: lost; more: applied twice) and an unacknowledged
// one 0 or 1.

// kvCallTimeout bounds one update, retries included: long enough to ride
// out a takeover (detection, the lease wait) and a re-protection.
const kvCallTimeout = 30 * time.Second

// kvTally is what a kv loop found.
type kvTally struct {
	Acked, Unsure     int // updates acknowledged, and not (timed out: either outcome is right)
	Lost, Twice       int // acknowledged but absent; applied more than once
	FirstLost, FirstX string
}

// kvLoop sends updates until stopped.
type kvLoop struct {
	conn   *client.Conn
	server string // BANK/kv
	prefix string // keys are prefix + number

	mu     sync.Mutex
	acked  []string
	unsure []string
	first  chan struct{} // closed at the first acknowledgement
	stop   chan struct{}
	done   chan struct{}
}

// startKV starts a loop against bank's kv server of the pair in dir.
func startKV(dir, bank, prefix string) (*kvLoop, error) {
	c, err := client.Dial(client.Config{Dir: dir, Timeout: kvCallTimeout})
	if err != nil {
		return nil, err
	}
	l := &kvLoop{conn: c, server: bank + "/" + kv.Name, prefix: prefix, first: make(chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l, nil
}

func (l *kvLoop) run() {
	defer close(l.done)
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		key := fmt.Sprintf("%s%d", l.prefix, i)
		ctx, cancel := context.WithTimeout(context.Background(), kvCallTimeout)
		_, err := client.Call(ctx, l.conn, kv.Add.At(l.server), kv.AddReq{Key: key, By: 1})
		cancel()
		l.mu.Lock()
		if err == nil {
			if len(l.acked) == 0 {
				close(l.first)
			}
			l.acked = append(l.acked, key)
		} else {
			l.unsure = append(l.unsure, key)
		}
		l.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
}

// started waits for the first acknowledged update.
func (l *kvLoop) started(timeout time.Duration) error {
	select {
	case <-l.first:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("no kv update to %s acknowledged within %v", l.server, timeout)
	}
}

// finish stops the loop and reads every key it sent.
func (l *kvLoop) finish() (kvTally, error) {
	close(l.stop)
	<-l.done
	defer l.conn.Close()
	t := kvTally{Acked: len(l.acked), Unsure: len(l.unsure)}
	for _, k := range l.acked {
		v, err := l.read(k)
		if err != nil {
			return t, err
		}
		switch {
		case v == 0:
			t.Lost++
			t.FirstLost = firstOf(t.FirstLost, k)
		case v > 1:
			t.Twice++
			t.FirstX = firstOf(t.FirstX, k)
		}
	}
	for _, k := range l.unsure {
		v, err := l.read(k)
		if err != nil {
			return t, err
		}
		if v > 1 {
			t.Twice++
			t.FirstX = firstOf(t.FirstX, k)
		}
	}
	return t, nil
}

// read returns key's value (0 if absent).
func (l *kvLoop) read(key string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kvCallTimeout)
	defer cancel()
	v, err := client.Call(ctx, l.conn, kv.Get.At(l.server), key)
	if errors.Is(err, kv.ErrNoKey) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s from %s: %w", key, l.server, err)
	}
	return v, nil
}

func firstOf(s, k string) string {
	if s == "" {
		return k
	}
	return s
}

// check turns a tally into the run's verdict.
func (t kvTally) check() error {
	switch {
	case t.Lost > 0:
		return fmt.Errorf("%w: %d of %d acknowledged kv updates absent (first %s)", errLost, t.Lost, t.Acked, t.FirstLost)
	case t.Twice > 0:
		return fmt.Errorf("%w: %d kv updates applied more than once (first %s)", errWrong, t.Twice, t.FirstX)
	case t.Acked == 0:
		return fmt.Errorf("no kv update acknowledged")
	}
	return nil
}
