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
const (
	kindBeat uint8 = 1
	kindEcho uint8 = 2 // a beat sent back as received, for its round trip
)

// Echoes are sent by a goroutine of their own, so a slow link never holds
// the receiving one (which marks the partner alive); echoQueue bounds the
// echoes waiting, beyond which one is dropped. sentRing is how many recent
// beats' send times are kept to time their echoes.
const (
	echoQueue = 8
	sentRing  = 64
)

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
	w := &watch{l: l, clk: wr.Clock, det: NewDetector(wr.Config, wr.Clock.Now()), onRTT: wr.Config.OnRoundTrip,
		echoes: make(chan uint64, echoQueue)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); w.receive(ctx) }()
	go func() { defer wg.Done(); w.echo(ctx) }()
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
	l      link.Link
	clk    clock.Clock
	onRTT  func(time.Duration) // Config.OnRoundTrip
	echoes chan uint64         // beats received, to echo
	mu     sync.Mutex          // guards det and sent
	det    *Detector
	sent   [sentRing]sentBeat // recent beats, by seq % sentRing
}

// sentBeat is when beat seq went out.
type sentBeat struct {
	seq uint64
	at  time.Time
}

// receive marks the partner alive on every frame until the link fails; it
// queues each beat for its echo and times each echo of ours.
func (w *watch) receive(ctx context.Context) {
	for {
		f, err := w.l.Recv(ctx)
		if err != nil {
			return
		}
		now := w.clk.Now()
		w.mu.Lock()
		w.det.Heard(now)
		s := w.sent[f.Seq%sentRing]
		w.mu.Unlock()
		switch {
		case f.Kind == kindBeat:
			select {
			case w.echoes <- f.Seq:
			default: // the echoer is behind: this beat goes untimed
			}
		case f.Kind == kindEcho && w.onRTT != nil && s.seq == f.Seq && !s.at.IsZero():
			w.onRTT(now.Sub(s.at))
		}
	}
}

// echo sends back the beats receive queued, until ctx ends or the link
// fails.
func (w *watch) echo(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case seq := <-w.echoes:
			if w.l.Send(ctx, link.Frame{Service: link.ServiceHeartbeat, Kind: kindEcho, Seq: seq}) != nil {
				return
			}
		}
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
	now := w.clk.Now()
	w.mu.Lock()
	seq, died := w.det.Tick(now)
	if seq != 0 {
		w.sent[seq%sentRing] = sentBeat{seq: seq, at: now}
	}
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
