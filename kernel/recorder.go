package kernel

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Recorder is told of every message a task receives before the task can
// see it (publishing.txt §3.1: a message reaches its receiver only once
// the recorder has it). The publish package implements it; the kernel
// knows nothing of logs or checkpoints.
//
// Record is called on the receiving goroutine, after the message left its
// port and its rights were given to the task (m.Dest, m.Reply and
// m.Rights name them in the task's space), and with no kernel lock held,
// so it may block on stable storage. Recording at the receive point logs
// messages in exactly the order the task receives them, local and remote
// alike: a message that came over a link (netmsg) is queued on the local
// port like any other and recorded when taken from it.
//
// Until Record returns nil the message is held by the kernel, not
// delivered: Receive returns ErrNotRecorded (or Record's panic goes up
// the receiving goroutine) and the task's next receive offers the same
// message to the recorder again, before any other. The receives of a
// task with a recorder are serialized, so the log order is the order of
// delivery.
type Recorder interface {
	Record(t *Task, m *Message) error
}

// recorderSlot is a Task's recorder; a load of a nil pointer when none.
type recorderSlot struct{ p atomic.Pointer[recorderHook] }

type recorderHook struct {
	r Recorder
	// mu serializes the task's recorded receives, and guards held: a
	// message received but not yet recorded. Held across Record, and
	// released by defer, so a panic in Record leaves the message held.
	mu   sync.Mutex
	held *Message
}

// SetRecorder makes every message t receives go through r first (nil
// removes the recorder, dropping a message it held).
func (t *Task) SetRecorder(r Recorder) {
	if r == nil {
		t.rec.p.Store(nil)
		return
	}
	h := &recorderHook{r: r}
	if old := t.rec.p.Load(); old != nil {
		old.mu.Lock()
		h.held, old.held = old.held, nil
		old.mu.Unlock()
	}
	t.rec.p.Store(h)
}

// recorded receives through the task's recorder (when it has one): the
// held message first, else one from recv; either is delivered only once
// recorded. Receive and TryReceive call it only for a task with a
// recorder, so the others' receive path stays as it was.
func (t *Task) recorded(recv func() (*Message, error)) (*Message, error) {
	h := t.rec.p.Load()
	if h == nil { // removed meanwhile
		return recv()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held == nil {
		m, err := recv()
		if err != nil {
			return nil, err
		}
		h.held = m
	}
	if err := h.r.Record(t, h.held); err != nil {
		return nil, fmt.Errorf("receive: %w: %w", ErrNotRecorded, err)
	}
	m := h.held
	h.held = nil
	return m, nil
}
