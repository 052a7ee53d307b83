package link

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Faults injects network faults into real links on purpose (ftmctl
// partition and slow): every link wrapped with Wrap obeys the same switch.
//
//   - A partition holds frames in both directions, like a network that
//     silently drops packets while TCP retransmits: nothing is lost or
//     reordered, the frames flow again when the partition ends, unless the
//     peers' failure detectors gave up first and closed the link. Callers
//     should refuse new links while Partitioned (see Partitioned).
//   - A delay holds every frame sent for that long before it goes out, in
//     order (one-way latency added to this side's sends).
//
// With no fault switched on and nothing held, a wrapped link sends and
// receives straight through. Safe for concurrent use.
type Faults struct {
	mu             sync.Mutex // guards the fields below
	partitionUntil time.Time
	delay          time.Duration
	delayUntil     time.Time
	changed        chan struct{} // closed and replaced at every change

	// until is when the last fault switched on ends (unix nanoseconds, 0
	// if none): past it a wrapped link skips the lock.
	until    atomic.Int64
	lastRecv atomic.Int64 // unix nanoseconds of the last frame received on any wrapped link
}

// ErrPartitioned is returned for a link refused during a partition.
var ErrPartitioned = errors.New("link: partitioned (fault injection)")

// FaultState is what is switched on now.
type FaultState struct {
	Partitioned   bool          `json:"partitioned"`
	PartitionLeft time.Duration `json:"partition_left_ns,omitempty"`
	Delay         time.Duration `json:"delay_ns,omitempty"`
	DelayLeft     time.Duration `json:"delay_left_ns,omitempty"`
}

// NewFaults returns a switch with no fault on.
func NewFaults() *Faults { return &Faults{changed: make(chan struct{})} }

// forever stands for a fault with no end.
const forever = 100 * 365 * 24 * time.Hour

func (fs *Faults) set(f func(now time.Time)) {
	fs.mu.Lock()
	f(time.Now())
	until := fs.partitionUntil
	if fs.delay > 0 && fs.delayUntil.After(until) {
		until = fs.delayUntil
	}
	if until.IsZero() {
		fs.until.Store(0)
	} else {
		fs.until.Store(until.UnixNano())
	}
	close(fs.changed)
	fs.changed = make(chan struct{})
	fs.mu.Unlock()
}

// Partition cuts every wrapped link for d (until Heal when d <= 0).
func (fs *Faults) Partition(d time.Duration) {
	if d <= 0 {
		d = forever
	}
	fs.set(func(now time.Time) { fs.partitionUntil = now.Add(d) })
}

// Slow delays every frame sent by delay, for d (until Heal when d <= 0).
func (fs *Faults) Slow(delay, d time.Duration) {
	if d <= 0 {
		d = forever
	}
	fs.set(func(now time.Time) { fs.delay, fs.delayUntil = delay, now.Add(d) })
}

// Heal switches every fault off.
func (fs *Faults) Heal() {
	fs.set(func(time.Time) { fs.partitionUntil, fs.delay, fs.delayUntil = time.Time{}, 0, time.Time{} })
}

// State says which faults are on.
func (fs *Faults) State() FaultState {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	now := time.Now()
	var st FaultState
	if now.Before(fs.partitionUntil) {
		st.Partitioned, st.PartitionLeft = true, fs.partitionUntil.Sub(now)
	}
	if fs.delay > 0 && now.Before(fs.delayUntil) {
		st.Delay, st.DelayLeft = fs.delay, fs.delayUntil.Sub(now)
	}
	return st
}

// Partitioned reports whether a partition is on.
func (fs *Faults) Partitioned() bool { return fs.State().Partitioned }

// LastRecv is when a wrapped link last delivered a received frame (zero
// if never): a partition holds frames, so it ages while one is on.
func (fs *Faults) LastRecv() time.Time {
	n := fs.lastRecv.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// quiet reports, without locking, that no fault is on.
func (fs *Faults) quiet() bool {
	u := fs.until.Load()
	return u == 0 || time.Now().UnixNano() >= u
}

// faultView is what the switch says at one instant: the delay on sends,
// whether a partition is on, when that state next changes by itself, and
// the channel closed at the next explicit change.
type faultView struct {
	delay       time.Duration
	partitioned bool
	next        time.Time
	changed     <-chan struct{}
}

// straight reports that a frame may go out at once: no partition, no delay.
func (v faultView) straight() bool { return !v.partitioned && v.delay == 0 }

// now returns what the switch says at this instant.
func (fs *Faults) now() faultView {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	t := time.Now()
	v := faultView{changed: fs.changed}
	if t.Before(fs.partitionUntil) {
		v.partitioned, v.next = true, fs.partitionUntil
	}
	if fs.delay > 0 && t.Before(fs.delayUntil) {
		v.delay = fs.delay
		if v.next.IsZero() || fs.delayUntil.Before(v.next) {
			v.next = fs.delayUntil
		}
	}
	return v
}

// waitHealed blocks until no partition is on (or ctx or done ends).
func (fs *Faults) waitHealed(ctx context.Context, done <-chan struct{}) error {
	for {
		v := fs.now()
		if !v.partitioned {
			return nil
		}
		timer := time.NewTimer(time.Until(v.next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-done:
			timer.Stop()
			return ErrClosed
		case <-v.changed:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// Wrap returns l obeying fs; an Interrupter when l is one.
func (fs *Faults) Wrap(l Link) Link {
	fl := &faultLink{Link: l, fs: fs, queue: make(chan heldFrame, faultQueue)}
	if _, ok := l.(Interrupter); ok {
		return &faultLinkIntr{fl}
	}
	return fl
}

// faultLinkIntr is a faultLink over an Interrupter.
type faultLinkIntr struct{ *faultLink }

// faultQueue bounds the frames one link holds; Send blocks beyond it.
const faultQueue = 4096

type heldFrame struct {
	f   Frame
	due time.Time
}

type faultLink struct {
	Link
	fs       *Faults
	queue    chan heldFrame
	inflight atomic.Int64 // frames queued and not yet sent
	pump     sync.Once

	recvMu  sync.Mutex // one Recv at a time may hold a frame
	pending *Frame     // received during a partition, not yet returned

	intrMu  sync.Mutex         // guards the fields below
	intr    bool               // an Interrupt not yet reported
	inInner bool               // Recv is in the wrapped link's Recv
	healing context.CancelFunc // ends Recv's wait for a partition to heal
}

var _ VectorSender = (*faultLink)(nil)

func (l *faultLink) Send(ctx context.Context, f Frame) error {
	if l.inflight.Load() == 0 && l.fs.quiet() {
		return l.Link.Send(ctx, f)
	}
	v := l.fs.now()
	if v.straight() && l.inflight.Load() == 0 {
		return l.Link.Send(ctx, f)
	}
	f.Body = append([]byte(nil), f.Body...) // the caller may reuse it once Send returns
	return l.hold(ctx, f, v.delay)
}

// SendVec sends through the wrapped link's SendVec when no fault is on.
func (l *faultLink) SendVec(ctx context.Context, f Frame, parts [][]byte) error {
	if vs, ok := l.Link.(VectorSender); ok && l.inflight.Load() == 0 && l.fs.quiet() {
		return vs.SendVec(ctx, f, parts)
	}
	v := l.fs.now()
	if vs, ok := l.Link.(VectorSender); ok && v.straight() && l.inflight.Load() == 0 {
		return vs.SendVec(ctx, f, parts)
	}
	f.Body = make([]byte, 0, partsLen(parts))
	for _, p := range parts {
		f.Body = append(f.Body, p...)
	}
	if v.straight() && l.inflight.Load() == 0 {
		return l.Link.Send(ctx, f)
	}
	return l.hold(ctx, f, v.delay)
}

// hold queues f for the pump, which sends it once due and not partitioned.
func (l *faultLink) hold(ctx context.Context, f Frame, delay time.Duration) error {
	l.pump.Do(func() { go l.runPump() })
	l.inflight.Add(1)
	select {
	case l.queue <- heldFrame{f: f, due: time.Now().Add(delay)}:
		return nil
	case <-ctx.Done():
		l.inflight.Add(-1)
		return ctx.Err()
	case <-l.Done():
		l.inflight.Add(-1)
		return l.Err()
	}
}

// runPump sends the held frames in order until the link ends.
func (l *faultLink) runPump() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-l.Done()
		cancel()
	}()
	for {
		select {
		case <-l.Done():
			return
		case h := <-l.queue:
			if err := l.sendHeld(ctx, h); err != nil {
				_ = l.Close() // a frame of an ordered, reliable link is lost: the link must fail
				return
			}
			l.inflight.Add(-1)
		}
	}
}

func (l *faultLink) sendHeld(ctx context.Context, h heldFrame) error {
	if d := time.Until(h.due); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	if err := l.fs.waitHealed(ctx, l.Done()); err != nil {
		return err
	}
	return l.Link.Send(ctx, h.f)
}

// Recv returns the next frame, held while a partition is on.
func (l *faultLink) Recv(ctx context.Context) (Frame, error) {
	l.recvMu.Lock()
	defer l.recvMu.Unlock()
	if l.takeInterrupt(true) {
		return Frame{}, ErrInterrupted
	}
	var f Frame
	if l.pending != nil {
		f, l.pending = *l.pending, nil
	} else {
		var err error
		f, err = l.Link.Recv(ctx)
		if l.takeInterrupt(false) || errors.Is(err, ErrInterrupted) {
			if err == nil {
				l.pending = &f
			}
			return Frame{}, ErrInterrupted
		}
		if err != nil {
			return Frame{}, err
		}
	}
	if !l.fs.quiet() {
		if err := l.waitHealed(ctx); err != nil {
			l.pending = &f // not lost: the next Recv returns it
			return Frame{}, err
		}
	}
	l.fs.lastRecv.Store(time.Now().UnixNano())
	return f, nil
}

// Interrupt cuts a Recv short: in the wrapped link's Recv or in its wait
// for a partition to heal.
func (l *faultLinkIntr) Interrupt() {
	l.intrMu.Lock()
	defer l.intrMu.Unlock()
	if l.intr {
		return
	}
	l.intr = true
	if l.healing != nil {
		l.healing()
	}
	if in, ok := l.Link.(Interrupter); ok && l.inInner {
		in.Interrupt()
	}
}

// takeInterrupt reports and clears a pending Interrupt; entering says the
// caller is about to read the wrapped link (and is marked as in it),
// otherwise it has just come out of it.
func (l *faultLink) takeInterrupt(entering bool) bool {
	l.intrMu.Lock()
	defer l.intrMu.Unlock()
	l.inInner = entering && !l.intr
	if !l.intr {
		return false
	}
	l.intr = false
	return true
}

// waitHealed waits for the partition to heal, or ctx or an Interrupt.
func (l *faultLink) waitHealed(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.intrMu.Lock()
	if l.intr {
		l.intr = false
		l.intrMu.Unlock()
		return ErrInterrupted
	}
	l.healing = cancel
	l.intrMu.Unlock()
	err := l.fs.waitHealed(ctx, l.Done())
	l.intrMu.Lock()
	l.healing = nil
	if l.intr && errors.Is(err, context.Canceled) {
		l.intr = false
		err = ErrInterrupted
	}
	l.intrMu.Unlock()
	return err
}
