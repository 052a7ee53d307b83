package main

import (
	"fmt"
	"syscall"
	"time"
)

// showOutage is the demo's second act: an external client keeps sending
// durable kv updates to alpha's server while the demo SIGKILLs the node
// running it; the survivor answers them, and the demo prints the write
// unavailability it measured (outage.go) and checks that every
// acknowledged update is there, once.
func showOutage(bin string) error {
	rep := reporter{verbose: true}
	d, cleanup, err := startPair(bin, nil, nil, rep)
	if err != nil {
		return err
	}
	keep := true
	defer func() { cleanup(keep) }()
	w, err := startWriter(d)
	if err != nil {
		return err
	}
	if _, err := d.protectedHolder(60 * time.Second); err != nil {
		w.close()
		return err
	}
	rep.say(fmt.Sprintf("an external client loops on durable updates to %s/kv (each answered once committed on both nodes)", outageBank))
	time.Sleep(500 * time.Millisecond)
	before := w.count()
	rep.say(fmt.Sprintf("%d updates acknowledged; killing the node of their server with SIGKILL", before))
	o, err := d.loseHolder(w, syscall.SIGKILL)
	if err != nil {
		w.close()
		return err
	}
	rep.say(fmt.Sprintf("write unavailability: the first update after the kill was acknowledged %v after it, by the survivor", o.Round(100*time.Microsecond)))
	time.Sleep(500 * time.Millisecond)
	acked := w.close()
	if err := d.checkCount(acked); err != nil {
		return err
	}
	rep.say(fmt.Sprintf("the client loop kept going: %d updates acknowledged in all, every one of them in the store once (the killed node is back as the backup)", acked))
	keep = false
	return nil
}

// count is the number of updates acknowledged so far.
func (w *writer) count() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls
}
