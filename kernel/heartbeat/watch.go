package heartbeat

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/clock"
	"github.com/ftm-in-go/ftm/kernel/link"
)

// Frame kinds on the heartbeat service.
const kindBeat uint8 = 1

// Reasons a partner is declared dead.
var (
	ErrSilent   = errors.New("heartbeat: partner silent past the timeout")
	ErrLinkLost = errors.New("heartbeat: link to partner lost")
)

// Death describes how and when the partner was found dead.
type Death struct {
	Peer    string        // the partner's node name
	Cause   error         // ErrSilent or ErrLinkLost (wrapping the link's error)
	Silence time.Duration // time since the partner was last heard from
	At      time.Time     // when death was declared
}

// A Watcher watches a partner over a link: the clock it reads, the timing
// it keeps and where it logs a death. The zero Log discards.
type Watcher struct {
	Clock  clock.Clock
	Config Config
	Log    *zap.Logger
}

// Watch runs a detector over l until ctx ends or the partner dies; it returns
// the Death (nil when ctx ended first). Heartbeats are sent every period and
// every frame received counts as a sign of life.
func (wr Watcher) Watch(ctx context.Context, l link.Link) *Death {
	log := wr.Log
	if log == nil {
		log = zap.NewNop()
	}
	w := &watch{l: l, clk: wr.Clock, det: NewDetector(wr.Config, wr.Clock.Now())}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.receive(ctx) }()
	d := w.loop(ctx)
	cancel()
	wg.Wait()
	if d != nil {
		log.Warn("partner declared dead", zap.String("peer", d.Peer), zap.Error(d.Cause),
			zap.Duration("silence", d.Silence))
	}
	return d
}

// watch is one run of Watch.
type watch struct {
	l   link.Link
	clk clock.Clock
	mu  sync.Mutex // guards det
	det *Detector
}

// receive marks the partner alive on every frame until the link fails.
func (w *watch) receive(ctx context.Context) {
	for {
		if _, err := w.l.Recv(ctx); err != nil {
			return
		}
		w.mu.Lock()
		w.det.Heard(w.clk.Now())
		w.mu.Unlock()
	}
}

func (w *watch) loop(ctx context.Context) *Death {
	for {
		if d := w.step(ctx); d != nil {
			return d
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.l.Done():
			return w.death(fmt.Errorf("%w: %v", ErrLinkLost, w.l.Err()))
		case <-w.clk.After(w.det.Period()):
		}
	}
}

// step ticks the detector once, sending a heartbeat when one is due.
func (w *watch) step(ctx context.Context) *Death {
	w.mu.Lock()
	seq, died := w.det.Tick(w.clk.Now())
	w.mu.Unlock()
	if died {
		return w.death(ErrSilent)
	}
	if seq == 0 {
		return nil
	}
	var body [8]byte
	binary.BigEndian.PutUint64(body[:], seq)
	if err := w.l.Send(ctx, link.Frame{Service: link.ServiceHeartbeat, Kind: kindBeat, Seq: seq, Body: body[:]}); err != nil && ctx.Err() == nil {
		return w.death(fmt.Errorf("%w: %v", ErrLinkLost, err))
	}
	return nil
}

func (w *watch) death(cause error) *Death {
	now := w.clk.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	return &Death{Peer: w.l.Peer(), Cause: cause, Silence: w.det.Silence(now), At: now}
}
