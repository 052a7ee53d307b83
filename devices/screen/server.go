package screen

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"

	"go.uber.org/zap"
)

// Input is a burst of keyboard bytes with its sequence number.
type Input struct {
	Seq  uint64
	Data []byte
}

// ServerConfig configures a screen server.
type ServerConfig struct {
	Width, Height int   // size of a new screen (a stored one keeps its own)
	Store         Store // nil: the image is not kept (no fault tolerance)
	Logger        *zap.Logger
}

// Server is the VT100 screen server: the program writes its
// output to it (Write), reads its keyboard input from it (ReadInput), and
// terminals attach to it over a connection (Serve). The image is saved
// by Checkpoint; after a restart it comes back from the store, and every
// terminal that attaches is redrawn from it.
//
// Input is numbered by the client. The server queues each number once;
// the program records the last number it applied in its own checkpointed
// state and calls Ack with it after each checkpoint, which tells the
// clients what they may forget. A client resends what was not acked, and
// after a restart the server (told the restored number by SetApplied)
// queues only what is newer: each input is applied exactly once.
type Server struct {
	store Store
	log   *zap.Logger

	mu       sync.Mutex // guards the fields below
	im       *Image
	restored bool
	received uint64         // highest input number queued
	acked    uint64         // highest input number checkpointed
	queue    []Input        // input not yet read by the program
	held     []Input        // input read by the program, not acked (queued again by SetApplied)
	wake     chan struct{}  // closed and replaced when input arrives
	clients  map[*conn]bool // attached terminals
	done     bool           // the program ended
	dropped  bool           // the node is going away: Drop was called
}

// conn is one attached terminal. Its writes are serialised by mu.
type conn struct {
	mu sync.Mutex
	c  io.ReadWriteCloser
}

func (c *conn) send(f Frame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return WriteFrame(c.c, f)
}

// NewServer returns a screen server with the image from cfg.Store, or a
// blank one.
func NewServer(ctx context.Context, cfg ServerConfig) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	s := &Server{store: cfg.Store, log: cfg.Logger, wake: make(chan struct{}), clients: map[*conn]bool{}}
	if cfg.Store != nil {
		im, err := cfg.Store.Load(ctx)
		switch {
		case err == nil:
			s.im, s.restored = im, true
			s.log.Info("screen image restored", zap.Int("width", im.W), zap.Int("height", im.H))
		case !errors.Is(err, ErrNoImage):
			return nil, err
		}
	}
	if s.im == nil {
		s.im = New(cfg.Width, cfg.Height)
	}
	return s, nil
}

// Restored reports whether the image came from the store.
func (s *Server) Restored() bool { return s.restored }

// Size is the screen's size.
func (s *Server) Size() (w, h int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.im.W, s.im.H
}

// Snapshot returns a copy of the current image.
func (s *Server) Snapshot() *Image {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.im.Clone()
}

// Write interprets the program's output and forwards it to every
// attached terminal.
func (s *Server) Write(p []byte) (int, error) {
	s.mu.Lock()
	_, _ = s.im.Write(p)
	clients := s.clientList()
	s.mu.Unlock()
	data := append([]byte(nil), p...)
	for _, c := range clients {
		if err := c.send(Frame{Kind: FrameOutput, Data: data}); err != nil {
			s.detach(c)
		}
	}
	return len(p), nil
}

func (s *Server) clientList() []*conn {
	out := make([]*conn, 0, len(s.clients))
	for c := range s.clients {
		out = append(out, c)
	}
	return out
}

// Checkpoint saves the image (the rows changed since the last one).
func (s *Server) Checkpoint(ctx context.Context) error {
	if s.store == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store.Save(ctx, s.im)
}

// SetApplied tells the server the last input number the program applied
// (from its restored state), when the program is started again after a
// restart or a rollback: older input is not queued again, and input the
// program read since its last ack but lost with the rollback is queued
// again, in order.
func (s *Server) SetApplied(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received, s.acked = max(s.received, seq), max(s.acked, seq)
	var kept []Input
	for _, in := range append(s.held, s.queue...) {
		if in.Seq > seq {
			kept = append(kept, in)
		}
	}
	s.queue, s.held = kept, nil
	if len(kept) > 0 {
		close(s.wake)
		s.wake = make(chan struct{})
	}
}

// Ack tells the clients that input up to seq is checkpointed.
func (s *Server) Ack(seq uint64) {
	s.mu.Lock()
	if seq <= s.acked {
		s.mu.Unlock()
		return
	}
	s.acked = seq
	i := 0
	for i < len(s.held) && s.held[i].Seq <= seq {
		i++
	}
	s.held = append(s.held[:0], s.held[i:]...)
	clients := s.clientList()
	s.mu.Unlock()
	for _, c := range clients {
		if err := c.send(Frame{Kind: FrameAck, Seq: seq}); err != nil {
			s.detach(c)
		}
	}
}

// ReadInput returns the queued input (waiting for some until ctx ends).
func (s *Server) ReadInput(ctx context.Context) ([]Input, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			q := s.queue
			s.queue = nil
			s.held = append(s.held, q...)
			s.mu.Unlock()
			return q, nil
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Push queues input numbered seq unless it was queued before; false if it
// was a duplicate. (Serve calls it for every input frame.)
func (s *Server) Push(in Input) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.Seq <= s.received {
		return false
	}
	s.received = in.Seq
	s.queue = append(s.queue, in)
	close(s.wake)
	s.wake = make(chan struct{})
	return true
}

// Close tells the attached terminals that the program ended and detaches
// them.
func (s *Server) Close() {
	s.mu.Lock()
	s.done = true
	clients := s.clientList()
	s.mu.Unlock()
	for _, c := range clients {
		_ = c.send(Frame{Kind: FrameBye})
		s.detach(c)
	}
}

func (s *Server) detach(c *conn) {
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
	_ = c.c.Close()
}

// Serve runs one attached terminal until its connection ends: the last
// input number queued, the size, the last ack and a full redraw of the
// image first, then the program's
// output as it comes; input frames go to the queue.
func (s *Server) Serve(ctx context.Context, nc io.ReadWriteCloser) error {
	c := &conn{c: nc}
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		err := c.send(Frame{Kind: FrameBye})
		_ = nc.Close()
		return err
	}
	// Registered under mu with the redraw queued first: no output is lost
	// or doubled between the redraw and the live stream.
	if s.dropped { // Drop came first: this connection breaks like the others
		s.mu.Unlock()
		_ = nc.Close()
		return ErrDropped
	}
	c.mu.Lock()
	s.clients[c] = true
	size := uint64(s.im.W)<<16 | uint64(s.im.H)
	err := errors.Join(WriteFrame(nc, Frame{Kind: FrameHello, Seq: s.received}),
		WriteFrame(nc, Frame{Kind: FrameSize, Seq: size}),
		WriteFrame(nc, Frame{Kind: FrameAck, Seq: s.acked}),
		WriteFrame(nc, Frame{Kind: FrameOutput, Data: s.im.Render()}))
	c.mu.Unlock()
	s.mu.Unlock()
	if err != nil {
		s.detach(c)
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	defer s.detach(c)
	r := bufio.NewReader(nc)
	for {
		f, err := ReadFrame(r)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if f.Kind == FrameInput && f.Seq > 0 {
			s.Push(Input{Seq: f.Seq, Data: f.Data})
		}
	}
}

// Forget deletes the stored image: the program ended for good.
func (s *Server) Forget(ctx context.Context) error {
	if s.store == nil {
		return nil
	}
	return s.store.Drop(ctx)
}

// Drop closes every attached terminal's connection without a goodbye (the
// node is going away, not the program): the clients reconnect, to the
// survivor after a takeover. A Serve that starts after Drop closes its
// connection at once (ErrDropped).
func (s *Server) Drop() {
	s.mu.Lock()
	s.dropped = true
	clients := s.clientList()
	s.mu.Unlock()
	for _, c := range clients {
		s.detach(c)
	}
}

// setImage replaces the image (a reliable screen's unit restored it).
func (s *Server) setImage(im *Image, restored bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.im, s.restored = im, s.restored || restored
}
