package screen

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame kinds on an attached terminal's connection.
const (
	// FrameInput (client → server): keyboard bytes numbered Seq (1, 2, …).
	FrameInput byte = 'i'
	// FrameOutput (server → client): bytes for the terminal.
	FrameOutput byte = 'o'
	// FrameAck (server → client): input up to Seq is checkpointed; the
	// client may forget it.
	FrameAck byte = 'a'
	// FrameSize (server → client): the screen's size, Seq = W<<16 | H.
	FrameSize byte = 's'
	// FrameBye (server → client): the program ended; do not reconnect.
	FrameBye byte = 'q'
	// FrameHello (server → client, first): Seq is the last input number
	// the server queued, so a new client numbers on from there.
	FrameHello byte = 'h'
)

// maxFrame bounds a frame's data.
const maxFrame = 1 << 20

// Frame is one message on the connection: kind, sequence number, data.
type Frame struct {
	Kind byte
	Seq  uint64
	Data []byte
}

// ErrFrame is returned for a malformed frame.
var ErrFrame = errors.New("screen: malformed frame")

// WriteFrame writes f as kind, uvarint seq, uvarint length, data.
func WriteFrame(w io.Writer, f Frame) error {
	buf := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(f.Data))
	buf = append(buf, f.Kind)
	buf = binary.AppendUvarint(buf, f.Seq)
	buf = binary.AppendUvarint(buf, uint64(len(f.Data)))
	buf = append(buf, f.Data...)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame.
func ReadFrame(r *bufio.Reader) (Frame, error) {
	var f Frame
	var err error
	if f.Kind, err = r.ReadByte(); err != nil {
		return f, err
	}
	if f.Seq, err = binary.ReadUvarint(r); err != nil {
		return f, fmt.Errorf("%w: %v", ErrFrame, err)
	}
	n, err := binary.ReadUvarint(r)
	if err != nil || n > maxFrame {
		return f, fmt.Errorf("%w: length %d: %v", ErrFrame, n, err)
	}
	f.Data = make([]byte, n)
	if _, err := io.ReadFull(r, f.Data); err != nil {
		return f, fmt.Errorf("%w: %v", ErrFrame, err)
	}
	return f, nil
}
