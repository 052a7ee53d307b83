package stm

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/stm/internal/crc32c"
)

// The mirror stream (RemoteMirror ↔ ServeBackup). One request is one or more
// frames with the same Seq; the last has no flagMore. Every frame body is
//
//	flags(1) epoch(8) tx(8) group(8) nextID(8) seq(8) frame(4) count(4) entries… crc32c(4)
//
// and every entry is id(8) seq(8) deleted(1) total(4) off(4) n(4) data(n): an
// object larger than a frame travels as several fragments. The CRC-32C
// (Castagnoli) covers the whole body before it; a mismatch is ErrCorrupt and
// the request is never applied. frame numbers a request's frames from 0, and
// requests carry increasing link sequence numbers, so a frame lost,
// duplicated or reordered by a faulty link is detected (ErrCorrupt) instead
// of assembling a partial transaction. An ack frame is status(1) text…
// crc32c(4).

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
	headLen  = 1 + 5*8 + 4 + 4
	entryLen = 8 + 8 + 1 + 4 + 4 + 4
	crcLen   = 4
)

// castagnoli is the CRC-32C table for short headers (file.go); frames are
// checksummed with stm/internal/crc32c, the same CRC computed by carry-less
// multiplication (2–3× hash/crc32's CRC-32C on a 1 MiB frame).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MaxObjectSize bounds one object on the wire and in the log; a decoder
// refuses larger claims rather than allocating them.
const MaxObjectSize = 1 << 30

// wireHead is the fixed part of every request frame.
type wireHead struct {
	flags                       byte
	epoch, tx, group, next, seq uint64
}

// message is one request to a mirror, decoded or about to be encoded: its
// kind, its fixed head and the object versions it carries.
type message struct {
	kind   uint8
	head   wireHead
	writes []Write
}

func prepareMessage(p *Prepare) message {
	return message{kind: kindPrepare, head: prepareHead(p), writes: p.Writes}
}

func decisionMessage(d *Decision) message {
	return message{kind: kindDecide, head: decisionHead(d)}
}

func chunkMessage(c *Chunk) message {
	return message{kind: kindLoad, head: chunkHead(c), writes: c.Objects}
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
// with its CRC. A frame is kept as segments — headers in the encoder's meta
// buffer, object bytes referenced where they are — so a link that can send
// a vector of buffers (VectorSender) ships pages without copying them.
// Otherwise the frame is flattened and handed to emit, which must not keep
// it. The first prefix bytes of a frame are left for the caller's own header
// (the file log's record header) and are not covered by the CRC.
type encoder struct {
	max     int
	frame   uint32 // number of the current frame within the request
	prefix  int
	emit    func(frame []byte) error   // flat frames
	emitVec func(parts [][]byte) error // vectored frames (preferred when set)

	meta  []byte   // prefix, head, entry headers and CRC of the current frame
	segs  []seg    // the current frame in order
	size  int      // bytes in the current frame after the prefix
	parts [][]byte // reused by seal
	flat  []byte   // reused by seal when flattening

	shift    crc32c.Shift // appends shiftLen bytes to a CRC (the last length combined)
	shiftLen int
}

// seg is a piece of a frame: object bytes, or the range [lo, hi) of meta.
// summed object bytes come with their CRC-32C (sum), which seal combines
// into the frame's instead of reading them.
type seg struct {
	data   []byte
	lo, hi int
	summed bool
	sum    uint32
}

func (e *encoder) start(h wireHead) {
	e.meta = append(e.meta[:0], make([]byte, e.prefix)...)
	e.meta = append(e.meta, h.flags)
	for _, v := range [...]uint64{h.epoch, h.tx, h.group, h.next, h.seq} {
		e.meta = binary.LittleEndian.AppendUint64(e.meta, v)
	}
	e.meta = binary.LittleEndian.AppendUint32(e.meta, e.frame)
	e.meta = append(e.meta, 0, 0, 0, 0) // count, patched by seal
	e.segs = append(e.segs[:0], seg{lo: 0, hi: len(e.meta)})
	e.size = headLen
}

// encode emits the whole request. An object that fits in a frame is never
// split (the receiver can then alias it); larger ones are fragmented.
func (e *encoder) encode(h wireHead, ws []Write) error {
	e.frame = 0
	e.start(h)
	count := uint32(0)
	fresh := e.max - headLen - entryLen - crcLen
	for i := range ws {
		w := &ws[i]
		for off := 0; ; {
			rest := len(w.Data) - off
			room := e.max - e.size - entryLen - crcLen
			if count > 0 && (room < 0 || (room < rest && (rest <= fresh || room < 512))) {
				if err := e.seal(h, count, true); err != nil {
					return err
				}
				e.frame++
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
	lo := len(e.meta)
	b := binary.LittleEndian.AppendUint64(e.meta, uint64(w.ID))
	b = binary.LittleEndian.AppendUint64(b, w.Seq)
	del := byte(0)
	if w.Deleted {
		del = 1
	}
	b = append(b, del)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(w.Data)))
	b = binary.LittleEndian.AppendUint32(b, uint32(off))
	e.meta = binary.LittleEndian.AppendUint32(b, uint32(n))
	e.addMeta(lo)
	if n > 0 {
		whole := w.summed && off == 0 && n == len(w.Data)
		e.segs = append(e.segs, seg{data: w.Data[off : off+n], summed: whole, sum: w.sum})
	}
	e.size += entryLen + n
}

// addMeta records meta[lo:] as the next segment, merging with a preceding
// meta segment.
func (e *encoder) addMeta(lo int) {
	if last := &e.segs[len(e.segs)-1]; last.data == nil && last.hi == lo {
		last.hi = len(e.meta)
		return
	}
	e.segs = append(e.segs, seg{lo: lo, hi: len(e.meta)})
}

func (e *encoder) seal(h wireHead, count uint32, more bool) error {
	head := e.meta[e.prefix:]
	head[0] = h.flags &^ flagMore
	if more {
		head[0] |= flagMore
	}
	binary.LittleEndian.PutUint32(head[headLen-4:], count)
	crc := uint32(0)
	e.parts = e.parts[:0]
	for i, sg := range e.segs {
		part := sg.data
		if part == nil {
			part = e.meta[sg.lo:sg.hi]
		}
		switch {
		case i == 0:
			crc = crc32c.Update(crc, part[e.prefix:])
		case sg.summed:
			crc = e.combine(crc, sg.sum, len(part))
		default:
			crc = crc32c.Update(crc, part)
		}
		e.parts = append(e.parts, part)
	}
	lo := len(e.meta)
	e.meta = binary.LittleEndian.AppendUint32(e.meta, crc)
	e.parts = append(e.parts, e.meta[lo:])
	return e.emitParts()
}

// combine returns the CRC of the bytes whose CRC is crc followed by n bytes
// whose CRC is sum. The operator for n is kept: a checkpoint's pages all
// have the same length.
func (e *encoder) combine(crc, sum uint32, n int) uint32 {
	if n != e.shiftLen || e.shift == 0 {
		e.shift, e.shiftLen = crc32c.ShiftFor(n), n
	}
	return e.shift.Combine(crc, sum)
}

// emitParts hands the sealed frame to emitVec, or flattened to emit. meta
// may have grown (moved) while sealing, so meta segments are re-sliced.
func (e *encoder) emitParts() error {
	j := 0
	for _, sg := range e.segs {
		if sg.data == nil {
			e.parts[j] = e.meta[sg.lo:sg.hi]
		}
		j++
	}
	if e.emitVec != nil {
		return e.emitVec(e.parts)
	}
	e.flat = e.flat[:0]
	for _, p := range e.parts {
		e.flat = append(e.flat, p...)
	}
	return e.emit(e.flat)
}

// checkCRC verifies a frame body and returns it without its CRC.
func checkCRC(body []byte) ([]byte, error) {
	if len(body) < crcLen {
		return nil, fmt.Errorf("frame of %d bytes: %w", len(body), ErrCorrupt)
	}
	n := len(body) - crcLen
	if crc32c.Checksum(body[:n]) != binary.LittleEndian.Uint32(body[n:]) {
		return nil, fmt.Errorf("frame of %d bytes: %w", len(body), ErrCorrupt)
	}
	return body[:n], nil
}

// assembler rebuilds requests from frames. Whole versions alias the frame
// body (no copy); when several share a frame they carry its frameMem, so
// the backup can copy the survivors out once most of the frame is dead
// (see Backup.compactLocked).
type assembler struct {
	msg     *message
	partial map[int]int  // index in msg.writes → bytes still missing
	mem     *frameMem    // the current frame, when it carries several entries
	ordered bool         // requests must come with increasing seq (a link)
	bodies  *link.Bodies // the link's recycler of frame buffers, if any
	seq     uint64       // seq of the request being assembled
	next    uint32       // its next frame number
	lastSeq uint64       // seq of the last request started
}

// add decodes one frame of link sequence number seq; it returns the
// request once its last frame is in.
func (a *assembler) add(seq uint64, kind uint8, body []byte) (*message, error) {
	b, err := checkCRC(body)
	if err != nil || len(b) < headLen {
		a.msg = nil
		return nil, fmt.Errorf("request frame: %w", ErrCorrupt)
	}
	h := decodeHead(b)
	if err := a.inOrder(seq, kind, binary.LittleEndian.Uint32(b[headLen-8:])); err != nil {
		a.msg = nil
		return nil, err
	}
	if a.next == 1 {
		a.msg.head = h // the request's first frame
	}
	count := binary.LittleEndian.Uint32(b[headLen-4:])
	a.mem = nil
	if count > 1 || (a.bodies != nil && count > 0) {
		a.mem = &frameMem{size: len(body), body: body, bodies: a.bodies}
	}
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

// inOrder checks that a frame continues the current request (same seq and
// kind, next frame number) or starts a new one (frame 0 and, on a link, a
// higher seq than the last request).
func (a *assembler) inOrder(seq uint64, kind uint8, frame uint32) error {
	if a.msg == nil {
		if frame != 0 || (a.ordered && seq <= a.lastSeq) {
			return fmt.Errorf("request %d frame %d out of order (last request %d): %w", seq, frame, a.lastSeq, ErrCorrupt)
		}
		a.msg, a.partial, a.next, a.seq, a.lastSeq = &message{kind: kind}, nil, 1, seq, seq
		return nil
	}
	if seq != a.seq || kind != a.msg.kind || frame != a.next {
		return fmt.Errorf("frame %d of request %d where frame %d of request %d was due: %w", frame, seq, a.next, a.seq, ErrCorrupt)
	}
	a.next++
	return nil
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
			w.Data, w.mem = data, a.mem
			if a.mem != nil {
				a.mem.entries++
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
	return binary.LittleEndian.AppendUint32(buf, crc32c.Checksum(buf))
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
