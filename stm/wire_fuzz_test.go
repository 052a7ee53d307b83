package stm

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// FuzzAssembler: any frame body, even one with a valid CRC, decodes to a
// request or an error, never a panic.
func FuzzAssembler(f *testing.F) {
	e := encoder{max: 1 << 12}
	e.emit = func(b []byte) error { f.Add(append([]byte(nil), b[:len(b)-crcLen]...)); return nil }
	p := &Prepare{Epoch: 1, Tx: 2, Writes: []Write{{ID: 1, Seq: 1, Data: make([]byte, 9000)}, {ID: 2, Deleted: true}}}
	_ = e.encode(prepareHead(p), p.Writes)
	f.Fuzz(func(t *testing.T, body []byte) {
		sealed := binary.LittleEndian.AppendUint32(append([]byte(nil), body...), crc32.Checksum(body, castagnoli))
		var a assembler
		for range 3 {
			_, _ = a.add(1, kindPrepare, sealed)
		}
		_, _ = a.add(1, kindLoad, body)
		_ = decodeAck(body)
	})
}
