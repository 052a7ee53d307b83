package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ftm-in-go/ftm/client"
	"github.com/ftm-in-go/ftm/examples/kvstore/kv"
)

// Write unavailability: an external client keeps sending durable kv
// updates to the server of one bank (bank/kv) while the node holding that
// bank is SIGKILLed (or frozen with SIGSTOP); the outage of one loss is the
// time from the signal to the first acknowledged update of a call the
// client started after it (so a reply already on its way at the signal
// does not count). Between losses the lost node is restarted with `ftmctl
// pair up` and the run waits until every bank is backed up again.

// outageBank is the bank whose server the client writes to.
const outageBank = "alpha"

// ack is one acknowledged update: when its call started and ended.
type ack struct{ start, end time.Time }

// writer is the external client's loop of durable updates.
type writer struct {
	mu      sync.Mutex
	acks    []ack
	err     error
	stop    context.CancelFunc
	stopped atomic.Bool // the loop ends after the call in flight
	done    chan struct{}
	calls   int64 // acknowledged adds (each by 1): what the key must hold
}

// startWriter runs the client loop on d's pair until stop.
func startWriter(d demo) (*writer, error) {
	c, err := client.Dial(client.Config{Dir: d.dir, Name: "outage"})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{stop: cancel, done: make(chan struct{})}
	if _, err := client.Call(ctx, c, kv.Put.At(outageBank+"/"+kv.Name), kv.PutReq{Key: "n", Value: 0}); err != nil {
		cancel()
		return nil, fmt.Errorf("first update: %w", err)
	}
	go func() {
		defer close(w.done)
		defer c.Close()
		for !w.stopped.Load() && ctx.Err() == nil {
			start := time.Now()
			_, err := client.Call(ctx, c, kv.Add.At(outageBank+"/"+kv.Name), kv.AddReq{Key: "n", By: 1})
			end := time.Now()
			w.mu.Lock()
			switch {
			case err == nil:
				w.acks = append(w.acks, ack{start, end})
				w.calls++
			case ctx.Err() == nil:
				w.err = err
			}
			w.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return w, nil
}

// firstAfter waits for the first update acknowledged of a call started at
// or after t0, and returns the time from t0 to its acknowledgement.
func (w *writer) firstAfter(t0 time.Time, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		err := w.err
		for i := len(w.acks) - 1; i >= 0 && !w.acks[i].start.Before(t0); i-- {
			if i == 0 || w.acks[i-1].start.Before(t0) {
				w.mu.Unlock()
				return w.acks[i].end.Sub(t0), nil
			}
		}
		w.mu.Unlock()
		if err != nil {
			return 0, fmt.Errorf("the client gave up: %w", err)
		}
		time.Sleep(time.Millisecond)
	}
	return 0, fmt.Errorf("no update acknowledged within %v of the loss", timeout)
}

// close stops the loop once its call in flight is answered, and returns
// the count of acknowledged adds.
func (w *writer) close() int64 {
	w.stopped.Store(true)
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		w.stop()
		<-w.done
	}
	w.stop()
	return w.calls
}

// bankRow is the part of `ftmctl status -o json` the run reads.
type bankRow struct {
	Node    string `json:"node"`
	PID     int    `json:"pid"`
	Running bool   `json:"running"`
	Status  *struct {
		STM *struct {
			Banks []struct {
				Name   string `json:"name"`
				Role   string `json:"role"`
				Mirror string `json:"mirror"`
				Ready  bool   `json:"ready"`
			} `json:"banks"`
		} `json:"stm"`
	} `json:"status"`
}

func (d demo) banks() ([]bankRow, error) {
	out, err := exec.Command(d.bin, "status", "-o", "json", "--dir", d.dir).Output()
	if err != nil {
		return nil, err
	}
	var rows []bankRow
	return rows, json.Unmarshal(out, &rows)
}

// protectedHolder returns the PID of the node holding outageBank once both
// banks are held with their mirror attached and backed up by a ready copy.
func (d demo) protectedHolder(timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		rows, err := d.banks()
		if pid, ok := holderIfProtected(rows); err == nil && ok {
			return pid, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, fmt.Errorf("the pair was not protected again within %v (logs in %s)", timeout, d.dir)
}

// holderIfProtected: the PID of outageBank's holder, if every bank held is
// attached and both backups are ready.
func holderIfProtected(rows []bankRow) (int, bool) {
	pid, attached, ready := 0, 0, 0
	for _, r := range rows {
		if !r.Running || r.Status == nil || r.Status.STM == nil {
			return 0, false
		}
		for _, b := range r.Status.STM.Banks {
			switch {
			case b.Role == "backup" && b.Ready:
				ready++
			case b.Role != "backup" && b.Mirror == "attached":
				attached++
				if b.Name == outageBank {
					pid = r.PID
				}
			}
		}
	}
	return pid, pid != 0 && attached == 2 && ready == 2
}

// outageRun is one measurement: how many losses, of which signal.
type outageRun struct {
	bin    string
	losses int
	sig    syscall.Signal // SIGKILL, or SIGSTOP (a silent loss)
	say    func(string)
	keep   bool // keep the pair's directory (its logs) after a good run
}

// measureOutages runs r and returns the outage of each loss.
func measureOutages(r outageRun) ([]time.Duration, error) {
	d, cleanup, err := startPair(r.bin, nil, nil, reporter{})
	if err != nil {
		return nil, err
	}
	keep := true
	defer func() { cleanup(keep) }()
	w, err := startWriter(d)
	if err != nil {
		return nil, err
	}
	var outs []time.Duration
	for i := 0; i < r.losses; i++ {
		o, err := d.loseHolder(w, r.sig)
		if err != nil {
			w.close()
			return outs, fmt.Errorf("loss %d: %w", i+1, err)
		}
		outs = append(outs, o)
		r.say(fmt.Sprintf("loss %2d (%s): first durable update acknowledged %v after the signal", i+1, sigName(r.sig), o.Round(100*time.Microsecond)))
	}
	acked := w.close()
	if err := d.checkCount(acked); err != nil {
		return outs, err
	}
	keep = r.keep
	return outs, nil
}

// loseHolder signals the node holding outageBank, measures the outage,
// then restarts that node and waits until the pair is protected again.
func (d demo) loseHolder(w *writer, sig syscall.Signal) (time.Duration, error) {
	pid, err := d.protectedHolder(60 * time.Second)
	if err != nil {
		return 0, err
	}
	time.Sleep(100 * time.Millisecond) // updates flowing to the protected pair
	t0 := time.Now()
	if err := syscall.Kill(pid, sig); err != nil {
		return 0, err
	}
	o, err := w.firstAfter(t0, 30*time.Second)
	if sig != syscall.SIGKILL {
		_ = syscall.Kill(pid, syscall.SIGKILL) // the frozen node is gone for good
	}
	if err != nil {
		return 0, err
	}
	if _, err := d.ftmctl("pair", "up"); err != nil {
		return 0, err
	}
	return o, nil
}

// checkCount checks that the key holds every acknowledged add, once.
func (d demo) checkCount(acked int64) error {
	c, err := client.Dial(client.Config{Dir: d.dir, Name: "outage-check"})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := client.Call(ctx, c, kv.Get.At(outageBank+"/"+kv.Name), "n")
	if err != nil {
		return err
	}
	if n != acked {
		return fmt.Errorf("%w: the key holds %d, %d adds were acknowledged", errOutageLost, n, acked)
	}
	return nil
}

var errOutageLost = errors.New("acknowledged updates lost or applied twice")

// spread is min, median, p99 (nearest rank) and max of some outages.
type spread struct{ lo, med, p99, hi time.Duration }

func percentiles(ds []time.Duration) spread {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return spread{s[0], rank(0.5), rank(0.99), s[len(s)-1]}
}

// reportOutages measures and prints one kind of loss.
func reportOutages(bin string, losses int, sig syscall.Signal) error {
	outs, err := measureOutages(outageRun{bin: bin, losses: losses, sig: sig, say: func(s string) { fmt.Println(s) }})
	if err != nil {
		return err
	}
	p := percentiles(outs)
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	fmt.Printf("write unavailability after %s of the bank's node, %d losses: min %v, median %v, p99 %v, max %v\n",
		sigName(sig), len(outs), r(p.lo), r(p.med), r(p.p99), r(p.hi))
	return nil
}

// outageSignal is SIGSTOP for a silent loss, else SIGKILL.
func outageSignal(silent bool) syscall.Signal {
	if silent {
		return syscall.SIGSTOP
	}
	return syscall.SIGKILL
}

func sigName(sig syscall.Signal) string {
	if sig == syscall.SIGSTOP {
		return "SIGSTOP"
	}
	return "SIGKILL"
}
