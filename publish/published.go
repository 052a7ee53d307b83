package publish

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel"
)

// Published is one published task: its kernel task and port, which live
// as long as it does (no other task sees its crashes), its recorder, and
// the incarnations that run its Machine.
type Published struct {
	m     *Manager
	spec  Spec
	task  *kernel.Task
	port  kernel.Name
	st    *store
	rec   *recorder
	peers peerNames
	// capture, when set, takes the task's sends instead of the kernel
	// (VerifyReplay's offline runs).
	capture func(m *kernel.Message)
	// id stamps the task's messages (Message.SenderID): its name's hash,
	// the same on every node it runs on.
	id uint64
	// home is the first log index recorded on this node: entries below it
	// came from another node, whose rights died with it.
	home uint64
	done chan struct{}

	// Owned by the task's goroutine.
	sentNow  uint64 // numbers sent by this incarnation (from its checkpoint's)
	handled  uint64 // log index of the next message to handle
	ckptSize int    // size of the last checkpoint's state
	refusing bool   // the recorder refused the last message offered

	mu    sync.Mutex // guards the fields below
	sent  uint64     // highest number ever sent: above it, sends go out
	stats Stats
	err   error
}

// Stats are a published task's counters.
type Stats struct {
	Incarnations int    // times its Machine was (re)started
	Replayed     uint64 // messages replayed from the log, over all recoveries
	Suppressed   uint64 // sends discarded as already sent
	Duplicates   uint64 // received messages dropped: a recovered sender's number already logged
	Refused      uint64 // times the recorder could not log a message (its bank refused commits); it waited
	Checkpoints  int
	Handled      uint64 // log index of the next message to handle
	Sent         uint64 // highest number sent
	LogBytes     int    // size of the messages logged since the last checkpoint (§5's measure)
	CkptBytes    int    // size of the last checkpoint's state
}

// Task is the published task's kernel task.
func (p *Published) Task() *kernel.Task { return p.task }

// Port is the name of the task's service port in its own space.
func (p *Published) Port() kernel.Name { return p.port }

// Done is closed when the task has ended (stopped, or failed by an error).
func (p *Published) Done() <-chan struct{} { return p.done }

// Err is why the task ended, once Done is closed (nil when stopped).
func (p *Published) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Stats returns the task's counters.
func (p *Published) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Sent = p.sent
	return s
}

func (p *Published) sentMax() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent
}

func (p *Published) foreign(e *Entry) bool { return e.Index < p.home }

// senderID is the id a task named name stamps its messages with.
func senderID(name string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return h.Sum64() | 1 // never 0, which means "not published"
}

// crashAt crashes the task (a panic on its goroutine) when the manager's
// failpoint fires at point.
func (p *Published) crashAt(point string) {
	if err := p.m.cfg.Failpoint.At(point, p.spec.Name); err != nil {
		panic(crash{err})
	}
}

// crash is the panic value of a failpoint crash.
type crash struct{ err error }

// send numbers m and sends it, unless this number went out before a crash.
func (p *Published) send(ctx context.Context, m *kernel.Message) error {
	p.sentNow++
	m.SenderID, m.SenderSeq = p.id, p.sentNow
	p.mu.Lock()
	resent := p.sentNow <= p.sent
	if resent {
		p.stats.Suppressed++
	}
	p.mu.Unlock()
	if resent || m.Dest == kernel.NameNull {
		return nil
	}
	if p.capture != nil {
		p.capture(m)
		return nil
	}
	if err := p.deliver(ctx, m); err != nil {
		return err
	}
	p.mu.Lock()
	p.sent = p.sentNow
	p.mu.Unlock()
	p.crashAt("publish.send.after")
	return p.st.setSent(ctx, p.sentNow)
}

// deliver sends m through the kernel. A send to a peer (Spec.Connect)
// whose port is gone — the peer moved: its node died and it runs again
// elsewhere, or it is between incarnations — is forwarded (§3.4): the
// task's peers are looked up again and m goes to the peer's new port,
// tried every Config.Backoff until it is sent or ctx ends; meanwhile the
// task holds m and handles nothing else. m keeps its number, so a
// published peer that had received it already drops it.
func (p *Published) deliver(ctx context.Context, m *kernel.Message) error {
	peers, _ := p.peers.(connected)
	key, ok := peers.key(m.Dest) // before the send: a delivered m is the receiver's
	err := p.task.Send(ctx, m)
	for tries := 0; ok && movedPeer(err) && p.spec.Connect != nil; tries++ {
		if ctx.Err() != nil {
			return err
		}
		if tries == 0 {
			p.m.log.Info("peer gone; forwarding to its new port", zap.String("task", p.spec.Name),
				zap.String("peer", key), zap.Error(err))
		}
		p.pause(ctx, p.m.cfg.Backoff)
		c, cerr := p.spec.Connect(ctx, p.task)
		if cerr != nil || c[key] == kernel.NameNull {
			continue // not registered again yet
		}
		p.peers = connected(c)
		m.Dest = c[key]
		err = p.task.Send(ctx, m)
	}
	return err
}

// movedPeer reports whether a send failed because its destination's port
// died or its node can no longer be reached.
func movedPeer(err error) bool {
	return errors.Is(err, kernel.ErrPortDead) || errors.Is(err, kernel.ErrNoLink)
}

// pause waits d, or until ctx ends.
func (p *Published) pause(ctx context.Context, d time.Duration) {
	wake := make(chan struct{})
	timer := p.m.cfg.Clock.AfterFunc(d, func() { close(wake) })
	defer timer.Stop()
	select {
	case <-wake:
	case <-ctx.Done():
	}
}

// run runs incarnations until the task is stopped or fails: a crash (a
// panic) is reported to the manager and a new incarnation recovers.
func (p *Published) run(ctx context.Context) {
	defer close(p.done)
	var loop crashLoop
	for {
		err := p.incarnation(ctx)
		var c crashed
		if !errors.As(err, &c) || ctx.Err() != nil {
			p.end(ctx, err)
			return
		}
		p.m.crashed(p, c)
		if err := loop.next(ctx, p, c); err != nil {
			p.end(ctx, err)
			return
		}
	}
}

// crashLoop tells a transient crash from a deterministic one (§2.1: a
// failure that recurs whenever the task does the same thing cannot be
// recovered): the crashes in a row at the same message.
type crashLoop struct {
	at    uint64 // log index of the message the last crash stopped at
	count int    // crashes in a row there
}

// next counts crash c and waits before the next incarnation (Backoff
// times the crashes in a row, none after the first); ErrCrashLoop when
// the same message crashed the task Config.CrashLimit times.
func (l *crashLoop) next(ctx context.Context, p *Published, c crashed) error {
	cfg := p.m.cfg
	if l.count > 0 && p.handled == l.at {
		l.count++
	} else {
		l.at, l.count = p.handled, 1
	}
	if l.count >= cfg.CrashLimit {
		return fmt.Errorf("%w: %d crashes at message %d, the last: %v", ErrCrashLoop, l.count, l.at, c.cause)
	}
	wait := cfg.Backoff * time.Duration(l.count-1)
	if wait == 0 {
		return nil
	}
	wake := make(chan struct{})
	timer := cfg.Clock.AfterFunc(wait, func() { close(wake) })
	defer timer.Stop()
	select {
	case <-wake:
	case <-ctx.Done():
	}
	return nil
}

// end records why the task ended.
func (p *Published) end(ctx context.Context, err error) {
	if ctx.Err() != nil {
		err = nil
	}
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
	if err != nil {
		p.m.log.Warn("published task failed", zap.String("task", p.spec.Name), zap.Error(err))
	}
}

// crashed is an incarnation's crash: the panic's value.
type crashed struct{ cause any }

func (c crashed) Error() string { return fmt.Sprintf("published task crashed: %v", c.cause) }

// incarnation runs one incarnation of the task's Machine: restored from
// the last checkpoint, fed the logged messages, then live ones (§3.4).
func (p *Published) incarnation(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = crashed{cause: r}
		}
	}()
	mach, err := p.restore(ctx)
	if err != nil {
		return err
	}
	return p.serve(ctx, mach)
}
