package publish

import (
	"context"
	"errors"

	"github.com/ftm-in-go/ftm/kernel"
)

// recorder is a published task's kernel.Recorder: it logs each message the
// task receives in the task's store before the kernel delivers it. One per
// published task; it outlives the task's incarnations. Its fields are
// used by the task's receiving goroutine only (the kernel serializes a
// recorded task's receives).
type recorder struct {
	p *Published
	// last is the entry of the message Record accepted last, for the
	// runtime to handle it with; lastMsg is that message, so a message
	// the kernel offers again after a crash that followed its commit is
	// recognized and not logged twice (dup then says so).
	last    Entry
	lastMsg *kernel.Message
	dup     bool
	logSize int // bytes logged since the checkpoint
}

var _ kernel.Recorder = (*recorder)(nil)

// Record implements kernel.Recorder: the message is committed to the log
// (mirrored with the bank) before Record returns. A failpoint that fires
// here crashes the task (a panic on its goroutine).
func (r *recorder) Record(_ *kernel.Task, m *kernel.Message) error {
	if m == r.lastMsg { // committed before the last crash: already in the log
		r.dup = true
		return nil
	}
	r.dup = false
	r.p.crashAt("publish.record.before")
	e := Entry{Sender: m.SenderID, Seq: m.SenderSeq, RU: m.RU, At: r.p.m.cfg.Clock.Now().UnixNano(),
		ID: m.ID, Dest: m.Dest, Reply: m.Reply, ReplyType: m.ReplyType, Body: m.Body, OOL: m.OOL, Rights: m.Rights}
	h, err := r.p.st.append(context.Background(), &e, r.p.sentMax())
	if errors.Is(err, errDuplicate) { // its sender recovered and sent it again: handled already
		r.dup = true
		r.p.mu.Lock()
		r.p.stats.Duplicates++
		r.p.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	r.last, r.lastMsg, r.logSize = e, m, h.Bytes
	r.p.crashAt("publish.record.after")
	return nil
}
