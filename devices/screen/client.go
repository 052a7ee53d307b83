package screen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Client is the terminal side of an attached screen: it numbers keyboard
// input and keeps what the server has not acked as checkpointed, to send
// it again on the next connection (to the survivor after a takeover).
type Client struct {
	mu      sync.Mutex // guards the fields below
	last    uint64     // last input number given
	pending []Input    // sent, not acked
	acked   uint64
	w, h    int
}

// Pending is how many inputs wait for an ack.
func (c *Client) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// Size is the screen's size the server announced (0, 0 before).
func (c *Client) Size() (w, h int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w, c.h
}

func (c *Client) add(data []byte) Input {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last++
	in := Input{Seq: c.last, Data: append([]byte(nil), data...)}
	c.pending = append(c.pending, in)
	return in
}

func (c *Client) ack(seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq > c.acked {
		c.acked = seq
	}
	i := 0
	for i < len(c.pending) && c.pending[i].Seq <= seq {
		i++
	}
	c.pending = append(c.pending[:0], c.pending[i:]...)
}

func (c *Client) unacked() []Input {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Input(nil), c.pending...)
}

// ErrBye is returned by Session when the program ended.
var ErrBye = errors.New("screen: the program ended")

// ErrDropped is returned by Server.Serve for a connection that arrived
// after Drop: the node is going away.
var ErrDropped = errors.New("screen: the node is going away")

// Session runs one connection: it resends the unacked input, then sends
// keys as they come and writes the server's output to out, until the
// connection breaks (an error: reconnect and call Session again), the
// program ends (ErrBye) or ctx ends.
func (c *Client) Session(ctx context.Context, nc io.ReadWriteCloser, keys <-chan []byte, out io.Writer) error {
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	r := bufio.NewReader(nc)
	if err := c.hello(r); err != nil {
		return err
	}
	readErr := make(chan error, 1)
	go func() { readErr <- c.read(r, out) }()
	var wmu sync.Mutex // the writer: resend, then live keys
	send := func(in Input) error {
		wmu.Lock()
		defer wmu.Unlock()
		return WriteFrame(nc, Frame{Kind: FrameInput, Seq: in.Seq, Data: in.Data})
	}
	for _, in := range c.unacked() {
		if err := send(in); err != nil {
			return fmt.Errorf("screen: resend input: %w", err)
		}
	}
	for {
		select {
		case err := <-readErr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case k, ok := <-keys:
			if !ok {
				return io.EOF
			}
			if err := send(c.add(k)); err != nil {
				_ = nc.Close() // the key stays pending: sent again next time
				return <-readErr
			}
		}
	}
}

// hello reads the server's first frame: a client new to the session (a
// second ftmctl attach) numbers its input after what the server has.
func (c *Client) hello(r *bufio.Reader) error {
	f, err := ReadFrame(r)
	if err != nil {
		return err
	}
	if f.Kind != FrameHello {
		return fmt.Errorf("%w: %q first, want a hello", ErrFrame, f.Kind)
	}
	c.mu.Lock()
	c.last = max(c.last, f.Seq)
	c.mu.Unlock()
	return nil
}

func (c *Client) read(r *bufio.Reader, out io.Writer) error {
	for {
		f, err := ReadFrame(r)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		switch f.Kind {
		case FrameOutput:
			if _, err := out.Write(f.Data); err != nil {
				return err
			}
		case FrameAck:
			c.ack(f.Seq)
		case FrameSize:
			c.mu.Lock()
			c.w, c.h = int(f.Seq>>16), int(f.Seq&0xffff)
			c.mu.Unlock()
		case FrameBye:
			return ErrBye
		}
	}
}
