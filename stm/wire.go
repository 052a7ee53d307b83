package stm

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// The mirror stream (RemoteMirror ↔ ServeBackup). One request is one or more
// frames with the same Seq; the last has no flagMore. Every frame body is
//
//	flags(1) epoch(8) tx(8) group(8) nextID(8) seq(8) count(4) entries… crc32c(4)
//
// and every entry is id(8) seq(8) deleted(1) total(4) off(4) n(4) data(n): an
// object larger than a frame travels as several fragments. The CRC-32C
// (Castagnoli) covers the whole body before it; a mismatch is ErrCorrupt and
// the request is never applied. An ack frame is status(1) text… crc32c(4).

// Frame kinds on link.ServiceSTM.
const (
	kindPrepare uint8 = 1
	kindDecide  uint8 = 2
	kindLoad    uint8 = 3
	kindAck     uint8 = 4
)

// Header flags.
const (
	flagMore   = 1 << 0 // more frames follow for this request
	flagCommit = 1 << 1 // Prepare.Commit / Decision.Commit
	flagFirst  = 1 << 2 // Chunk.First
	flagLast   = 1 << 3 // Chunk.Last
)

const (
	headLen  = 1 + 5*8 + 4
	entryLen = 8 + 8 + 1 + 4 + 4 + 4
	crcLen   = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MaxObjectSize bounds one object on the wire and in the log; a decoder
// refuses larger claims rather than allocating them.
const MaxObjectSize = 1 << 30

// wireHead is the fixed part of every request frame.
type wireHead struct {
	flags                       byte
	epoch, tx, group, next, seq uint64
}

// message is a decoded request.
type message struct {
	kind   uint8
	head   wireHead
	writes []Write
	shared []int // writes whose Data aliases a frame shared with others
}

func prepareHead(p *Prepare) wireHead {
	h := wireHead{epoch: p.Epoch, tx: uint64(p.Tx), group: uint64(p.Group), next: uint64(p.NextID)}
	if p.Commit {
		h.flags |= flagCommit
	}
	return h
}

func decisionHead(d *Decision) wireHead {
	h := wireHead{epoch: d.Epoch, group: uint64(d.Group)}
	if d.Commit {
		h.flags |= flagCommit
	}
	return h
}

func chunkHead(c *Chunk) wireHead {
	h := wireHead{epoch: c.Epoch, next: uint64(c.NextID), seq: c.Seq}
	if c.First {
		h.flags |= flagFirst
	}
	if c.Last {
		h.flags |= flagLast
	}
	return h
}

// encoder cuts one request into frames of at most max bytes, each sealed
// with its CRC, handing every frame to emit (which must not keep it). The
// first prefix bytes of what emit gets are left for the caller's own header
// (the file log's record header), so a record is written with one call.
type encoder struct {
	buf    []byte
	max    int
	prefix int
	emit   func(frame []byte) error
}

func (e *encoder) start(h wireHead) {
	b := append(e.buf[:0], make([]byte, e.prefix)...)
	b = append(b, h.flags)
	for _, v := range [...]uint64{h.epoch, h.tx, h.group, h.next, h.seq} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	e.buf = append(b, 0, 0, 0, 0) // count, patched by seal
}

// encode emits the whole request. An object that fits in a frame is never
// split (the receiver can then alias it); larger ones are fragmented.
func (e *encoder) encode(h wireHead, ws []Write) error {
	e.start(h)
	count := uint32(0)
	fresh := e.max - headLen - entryLen - crcLen
	for i := range ws {
		w := &ws[i]
		for off := 0; ; {
			rest := len(w.Data) - off
			room := e.max - (len(e.buf) - e.prefix) - entryLen - crcLen
			if count > 0 && (room < 0 || (room < rest && (rest <= fresh || room < 512))) {
				if err := e.seal(h, count, true); err != nil {
					return err
				}
				e.start(h)
				count = 0
				continue
			}
			n := min(rest, room)
			e.appendEntry(w, off, n)
			count++
			if off += n; off >= len(w.Data) {
				break
			}
		}
	}
	return e.seal(h, count, false)
}

func (e *encoder) appendEntry(w *Write, off, n int) {
	b := binary.LittleEndian.AppendUint64(e.buf, uint64(w.ID))
	b = binary.LittleEndian.AppendUint64(b, w.Seq)
	del := byte(0)
	if w.Deleted {
		del = 1
	}
	b = append(b, del)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(w.Data)))
	b = binary.LittleEndian.AppendUint32(b, uint32(off))
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	e.buf = append(b, w.Data[off:off+n]...)
}

func (e *encoder) seal(h wireHead, count uint32, more bool) error {
	body := e.buf[e.prefix:]
	if more {
		body[0] = h.flags | flagMore
	} else {
		body[0] = h.flags &^ flagMore
	}
	binary.LittleEndian.PutUint32(body[headLen-4:], count)
	e.buf = binary.LittleEndian.AppendUint32(e.buf, crc32.Checksum(body, castagnoli))
	return e.emit(e.buf)
}

// checkCRC verifies a frame body and returns it without its CRC.
func checkCRC(body []byte) ([]byte, error) {
	if len(body) < crcLen {
		return nil, fmt.Errorf("frame of %d bytes: %w", len(body), ErrCorrupt)
	}
	n := len(body) - crcLen
	if crc32.Checksum(body[:n], castagnoli) != binary.LittleEndian.Uint32(body[n:]) {
		return nil, fmt.Errorf("frame of %d bytes: %w", len(body), ErrCorrupt)
	}
	return body[:n], nil
}

// assembler rebuilds requests from frames. Whole versions alias the frame
// body (no copy on the critical path); those sharing a frame with others are
// listed in message.shared, and the backup copies them out after it has
// acknowledged (Backup.unshare), so a version it keeps never pins the
// memory of the others.
type assembler struct {
	msg     *message
	partial map[int]int // index in msg.writes → bytes still missing
	shared  bool        // the current frame carries several entries
}

// add decodes one frame; it returns the request once its last frame is in.
func (a *assembler) add(kind uint8, body []byte) (*message, error) {
	b, err := checkCRC(body)
	if err != nil || len(b) < headLen {
		a.msg = nil
		return nil, fmt.Errorf("request frame: %w", ErrCorrupt)
	}
	h := decodeHead(b)
	if a.msg == nil {
		a.msg, a.partial = &message{kind: kind, head: h}, nil
	}
	count := binary.LittleEndian.Uint32(b[headLen-4:])
	a.shared = count > 1
	if err := a.entries(b[headLen:], count); err != nil {
		a.msg = nil
		return nil, err
	}
	if h.flags&flagMore != 0 {
		return nil, nil
	}
	m := a.msg
	a.msg = nil
	if len(a.partial) > 0 {
		return nil, fmt.Errorf("request ended with %d incomplete objects: %w", len(a.partial), ErrCorrupt)
	}
	m.head.flags = h.flags
	return m, nil
}

func decodeHead(b []byte) wireHead {
	u := func(i int) uint64 { return binary.LittleEndian.Uint64(b[1+8*i:]) }
	return wireHead{flags: b[0], epoch: u(0), tx: u(1), group: u(2), next: u(3), seq: u(4)}
}

func (a *assembler) entries(b []byte, count uint32) error {
	for range count {
		if len(b) < entryLen {
			return fmt.Errorf("short entry: %w", ErrCorrupt)
		}
		id, seq := ID(binary.LittleEndian.Uint64(b)), binary.LittleEndian.Uint64(b[8:])
		del := b[16] == 1
		total, off, n := int(binary.LittleEndian.Uint32(b[17:])), int(binary.LittleEndian.Uint32(b[21:])), int(binary.LittleEndian.Uint32(b[25:]))
		b = b[entryLen:]
		if n > len(b) || off+n > total || total > MaxObjectSize {
			return fmt.Errorf("entry for object %d overruns: %w", id, ErrCorrupt)
		}
		if err := a.place(Write{ID: id, Seq: seq, Deleted: del}, total, off, b[:n:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	if len(b) != 0 {
		return fmt.Errorf("%d trailing bytes: %w", len(b), ErrCorrupt)
	}
	return nil
}

// place stores one entry: whole objects alias the frame, fragments are
// copied into one allocation.
func (a *assembler) place(w Write, total, off int, data []byte) error {
	m := a.msg
	if off == 0 && len(data) == total {
		if total > 0 {
			w.Data = data
			if a.shared {
				m.shared = append(m.shared, len(m.writes))
			}
		}
		m.writes = append(m.writes, w)
		return nil
	}
	if off == 0 {
		w.Data = make([]byte, total)
		m.writes = append(m.writes, w)
		if a.partial == nil {
			a.partial = make(map[int]int)
		}
		a.partial[len(m.writes)-1] = total
	}
	i := len(m.writes) - 1
	left, ok := a.partial[i]
	if !ok || m.writes[i].ID != w.ID || len(m.writes[i].Data) != total {
		return fmt.Errorf("fragment of object %d out of order: %w", w.ID, ErrCorrupt)
	}
	copy(m.writes[i].Data[off:], data)
	if left -= len(data); left == 0 {
		delete(a.partial, i)
	} else {
		a.partial[i] = left
	}
	return nil
}

// Ack statuses.
const (
	ackOK      byte = 0
	ackFenced  byte = 1
	ackCorrupt byte = 2
	ackRefused byte = 3
)

func encodeAck(buf []byte, err error) []byte {
	st, text := ackOK, ""
	if err != nil {
		st, text = ackRefused, err.Error()
		switch {
		case isFenced(err):
			st = ackFenced
		case isCorrupt(err):
			st = ackCorrupt
		}
	}
	buf = append(append(buf[:0], st), text...)
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
}

func decodeAck(body []byte) error {
	b, err := checkCRC(body)
	if err != nil || len(b) < 1 {
		return fmt.Errorf("ack: %w", ErrCorrupt)
	}
	text := string(b[1:])
	switch b[0] {
	case ackOK:
		return nil
	case ackFenced:
		return fmt.Errorf("backup: %s: %w", text, ErrFenced)
	case ackCorrupt:
		return fmt.Errorf("backup: %s: %w", text, ErrCorrupt)
	}
	return fmt.Errorf("backup refused: %s", text)
}
