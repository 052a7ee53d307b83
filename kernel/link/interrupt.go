package link

import (
	"errors"
	"time"
)

// ErrInterrupted is what a Recv cut short by Interrupt returns. The link
// lives on: a frame the Recv had begun to read is finished by the next one.
var ErrInterrupted = errors.New("link: receive interrupted")

// Interrupter is a Link whose Recv another goroutine can cut short without
// ending the link or arming anything per Recv: the kernel lets a task
// blocked on a port read the link itself, and a local sender, the task's
// end or its context's end takes the task out of the read by Interrupt.
//
// Interrupt makes the Recv in progress return ErrInterrupted, or, when no
// Recv is in progress, the next one; interruptions do not add up (several
// Interrupts before a Recv reports one give one ErrInterrupted). A Recv
// that completes a frame although an interruption arrived returns the frame
// and leaves the interruption for the next Recv. Through a fault-wrapped
// link an Interrupt that lands as the wrapped Recv returns may be reported
// twice (by the wrapper and by the link under it): a caller treats
// ErrInterrupted as "read again if you still want to", never as a count.
type Interrupter interface {
	Link
	Interrupt()
}

var (
	_ Interrupter = (*TCP)(nil)
	_ Interrupter = (*MemLink)(nil)
	_ Interrupter = (*muxLinkIntr)(nil)
	_ Interrupter = (*faultLinkIntr)(nil)
)

// pastDeadline is a read deadline that has passed: it wakes a read at once.
var pastDeadline = time.Unix(1, 0)

// Interrupt cuts the Recv in progress short (or the next one) by a read
// deadline in the past, which leaves the connection usable.
func (t *TCP) Interrupt() {
	t.dlMu.Lock()
	defer t.dlMu.Unlock()
	if t.intr {
		return
	}
	t.intr = true
	t.intrSet.Store(true)
	_ = t.conn.SetReadDeadline(pastDeadline)
}

// takeInterrupt reports and clears a pending Interrupt, clearing the read
// deadline unless a context's interruption still needs it. Called by the
// reader's token holder.
func (t *TCP) takeInterrupt() bool {
	if !t.intrSet.Load() {
		return false
	}
	t.dlMu.Lock()
	defer t.dlMu.Unlock()
	if !t.intr {
		return false
	}
	t.intr = false
	t.intrSet.Store(false)
	if !t.dlFired {
		_ = t.conn.SetReadDeadline(time.Time{})
	}
	return true
}

// Interrupt cuts the Recv in progress short (or the next one).
func (m *MemLink) Interrupt() {
	select {
	case m.intr <- struct{}{}:
	default:
	}
}
