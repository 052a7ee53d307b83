package kernel

import "sync/atomic"

// SafePoint is told where a task may be stopped for a checkpoint (paper
// §4.1: a task is checkpointed at any kernel call). rvm.SafePoint
// implements it; the kernel knows nothing of checkpoints.
//
// The kernel calls Poll at the entry of Send, TrySend, SendTimeout,
// Receive, TryReceive and ReceiveTimeout: a checkpoint that is pending
// stops the task there. While such a call waits (for a message, or for
// room in a full queue) it calls Blocked before waiting and Unblocked
// after: the task touches none of its memory in between, so a checkpoint
// may run without waiting for it, and Unblocked holds the task until that
// checkpoint is over.
//
// This is sound for a task whose memory is changed by one goroutine (the
// one making the kernel calls); a task with several such goroutines must
// have each of them stop (rvm.SafePoint.Poll) before a checkpoint.
type SafePoint interface {
	Poll()
	Blocked()
	Unblocked()
}

// safePointSlot is a Task's hook; a load of a nil pointer when none is set.
type safePointSlot struct{ p atomic.Pointer[safePointHook] }

type safePointHook struct{ sp SafePoint }

// SetSafePoint makes the task's kernel calls report to sp (nil removes it).
func (t *Task) SetSafePoint(sp SafePoint) {
	if sp == nil {
		t.sp.p.Store(nil)
		return
	}
	t.sp.p.Store(&safePointHook{sp: sp})
}

// safePoint is the hook at the entry of a kernel call.
func (t *Task) safePoint() {
	if h := t.sp.p.Load(); h != nil {
		h.sp.Poll()
	}
}

// enterBlocked reports that the call is about to wait; the caller calls
// leave on the result (nil when no hook is set) once the wait is over.
func (t *Task) enterBlocked() *safePointHook {
	h := t.sp.p.Load()
	if h != nil {
		h.sp.Blocked()
	}
	return h
}

func (h *safePointHook) leave() {
	if h != nil {
		h.sp.Unblocked()
	}
}
