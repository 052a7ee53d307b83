package stm

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ftm-in-go/ftm/kernel/link"
	"go.uber.org/zap"
)

// VectorSender is an optional extension of link.Link: send one frame whose
// body is the concatenation of parts, without copying them first (writev).
// RemoteMirror uses it when the link has it, so pages go from the primary's
// versions to the socket without an extra copy.
type VectorSender interface {
	SendVec(ctx context.Context, f link.Frame, parts [][]byte) error
}

// RemoteConfig configures a RemoteMirror. The zero value is valid.
type RemoteConfig struct {
	// Logger receives structured events; nil means zap.NewNop().
	Logger *zap.Logger
	// MaxFrame bounds one frame body (default 1 MiB, minimum 4 KiB); it must
	// not exceed the link's frame limit. Bigger requests stream as several
	// frames and are still acknowledged once.
	MaxFrame int
}

// RemoteMirror is the Mirror of a backup bank in another process, reached
// over a link.Link (service link.ServiceSTM). Each call is one request —
// its objects batched into as few frames as the frame limit allows, each
// frame checksummed — and one acknowledgement: one round trip per phase.
// Calls from many goroutines are pipelined on the link. There is no reader
// goroutine: one waiting caller at a time reads acks from the link and hands
// the others theirs, so a lone commit wakes no other goroutine.
type RemoteMirror struct {
	l   link.Link
	log *zap.Logger

	sendMu sync.Mutex // held while one request's frames go out (before mu)
	enc    encoder    // guarded by sendMu

	mu      sync.Mutex            // guards the fields below
	waiters map[uint64]chan error // requests awaiting their ack
	nextSeq uint64
	reading bool          // a caller is reading acks from the link
	turn    chan struct{} // closed (and replaced) when the reader stops
	err     error         // set once the link failed
}

var _ Mirror = (*RemoteMirror)(nil)

// NewRemoteMirror starts a mirror over l; it owns l from now on.
func NewRemoteMirror(l link.Link, cfg RemoteConfig) *RemoteMirror {
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	maxFrame := cfg.MaxFrame
	if maxFrame == 0 {
		maxFrame = 1 << 20
	}
	m := &RemoteMirror{l: l, log: log, waiters: make(map[uint64]chan error), turn: make(chan struct{})}
	m.enc.max = max(maxFrame, 4096)
	return m
}

// Prepare ships phase 1.
func (m *RemoteMirror) Prepare(ctx context.Context, p *Prepare) error {
	return m.call(ctx, prepareMessage(p))
}

// Decide ships a group decision.
func (m *RemoteMirror) Decide(ctx context.Context, d *Decision) error {
	return m.call(ctx, decisionMessage(d))
}

// Load ships one chunk of a full copy.
func (m *RemoteMirror) Load(ctx context.Context, c *Chunk) error {
	return m.call(ctx, chunkMessage(c))
}

// Close closes the link; pending calls fail.
func (m *RemoteMirror) Close() error {
	err := m.l.Close()
	m.failAll(fmt.Errorf("%w: mirror closed", ErrNoBackup))
	return err
}

// call sends one request and waits for its ack. If the request could not
// be sent whole, or the wait is cancelled, the backup's state is unknown and
// the link is closed.
func (m *RemoteMirror) call(ctx context.Context, msg message) error {
	seq, ch, err := m.send(ctx, msg)
	if err != nil {
		_ = m.Close()
		return fmt.Errorf("%w: send: %w", ErrNoBackup, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = m.Close() })
	defer stop()
	err = m.await(seq, ch)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w: waiting for the backup: %w", ErrNoBackup, ctx.Err())
	}
	return err
}

func (m *RemoteMirror) register() (uint64, chan error, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return 0, nil, m.err
	}
	m.nextSeq++
	ch := make(chan error, 1)
	m.waiters[m.nextSeq] = ch
	return m.nextSeq, ch, nil
}

// send registers the request and sends it; the sequence number is taken
// under sendMu so requests leave in sequence order (the backup checks it).
func (m *RemoteMirror) send(ctx context.Context, msg message) (uint64, chan error, error) {
	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	seq, ch, err := m.register()
	if err != nil {
		return 0, nil, err
	}
	return seq, ch, m.sendLocked(ctx, seq, msg)
}

func (m *RemoteMirror) sendLocked(ctx context.Context, seq uint64, msg message) error {
	f := link.Frame{Service: link.ServiceSTM, Kind: msg.kind, Seq: seq}
	m.enc.emit = func(body []byte) error {
		f.Body = body
		return m.l.Send(ctx, f)
	}
	m.enc.emitVec = nil
	if vs, ok := m.l.(VectorSender); ok {
		m.enc.emitVec = func(parts [][]byte) error { return vs.SendVec(ctx, f, parts) }
	}
	return m.enc.encode(msg.head, msg.writes)
}

// await returns the ack of request seq: it reads acks itself when no other
// caller is reading, else waits to be handed its ack or the reader's turn.
func (m *RemoteMirror) await(seq uint64, ch chan error) error {
	for {
		m.mu.Lock()
		select {
		case err := <-ch:
			m.mu.Unlock()
			return err
		default:
		}
		if !m.reading {
			m.reading = true
			m.mu.Unlock()
			return m.readUntil(seq, ch)
		}
		turn := m.turn
		m.mu.Unlock()
		select {
		case err := <-ch:
			return err
		case <-turn:
		}
	}
}

// readUntil reads acks, delivering each to its waiter, until seq's arrives
// (or the link fails), then passes the reader's turn on.
func (m *RemoteMirror) readUntil(seq uint64, ch chan error) error {
	defer m.passTurn()
	for {
		f, err := m.l.Recv(context.Background())
		if err != nil {
			m.failAll(fmt.Errorf("%w: link: %w", ErrNoBackup, err))
			return <-ch
		}
		if f.Service != link.ServiceSTM || f.Kind != kindAck {
			continue
		}
		m.mu.Lock()
		wch := m.waiters[f.Seq]
		delete(m.waiters, f.Seq)
		m.mu.Unlock()
		if wch != nil {
			wch <- decodeAck(f.Body)
		}
		if f.Seq == seq {
			return <-ch
		}
	}
}

func (m *RemoteMirror) passTurn() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reading = false
	close(m.turn)
	m.turn = make(chan struct{})
}

func (m *RemoteMirror) failAll(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err == nil {
		m.err = err
	}
	for seq, ch := range m.waiters {
		ch <- m.err
		delete(m.waiters, seq)
	}
}

// ServeBackup answers a primary's mirror requests arriving on l, applying
// them to k, until the link fails, ctx ends or k dies (a failpoint); then it
// closes l and returns why. A corrupt frame is answered with ErrCorrupt and
// ends the link: nothing of that request is applied. The caller decides
// what the end of the link means (its failure detector may call Takeover).
func ServeBackup(ctx context.Context, l link.Link, k *Backup) error {
	defer l.Close()
	asm := assembler{ordered: true}
	if r, ok := l.(link.Recycler); ok {
		asm.bodies = r.Bodies()
	}
	var ack []byte
	for {
		f, err := l.Recv(ctx)
		if err != nil {
			return err
		}
		if f.Service != link.ServiceSTM {
			continue
		}
		msg, err := asm.add(f.Seq, f.Kind, f.Body)
		if msg == nil && err == nil {
			continue // more frames to come
		}
		if err == nil {
			err = k.apply(msg)
		}
		ack = encodeAck(ack, err)
		if serr := l.Send(ctx, link.Frame{Service: link.ServiceSTM, Kind: kindAck, Seq: f.Seq, Body: ack}); serr != nil {
			return serr
		}
		if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrCrashed) {
			k.log.Warn("mirror stream ended", zap.Error(err))
			return err
		}
	}
}

// apply hands a decoded request to the backup bank.
func (k *Backup) apply(msg *message) error {
	h := msg.head
	switch msg.kind {
	case kindPrepare:
		return k.prepare(&Prepare{Epoch: h.epoch, Tx: TxID(h.tx), Group: GroupID(h.group),
			Commit: h.flags&flagCommit != 0, NextID: ID(h.next), Writes: msg.writes})
	case kindDecide:
		return k.decide(&Decision{Epoch: h.epoch, Group: GroupID(h.group), Commit: h.flags&flagCommit != 0})
	case kindLoad:
		return k.load(&Chunk{Epoch: h.epoch, First: h.flags&flagFirst != 0, Last: h.flags&flagLast != 0,
			NextID: ID(h.next), Seq: h.seq, Objects: msg.writes})
	}
	return fmt.Errorf("unknown request kind %d: %w", msg.kind, ErrCorrupt)
}
