package crc32c

import "hash/crc32"

var table = crc32.MakeTable(crc32.Castagnoli)

// Size is the size of a CRC-32C in bytes.
const Size = 4

// Checksum returns the CRC-32C of p.
func Checksum(p []byte) uint32 { return Update(0, p) }

// Update returns the CRC-32C of the bytes whose CRC-32C is crc followed by
// p (crc32.Update with the Castagnoli table).
func Update(crc uint32, p []byte) uint32 {
	if len(p) >= minFold && canFold {
		n := len(p) &^ 15
		crc = ^fold(^crc, p[:n], useAVX512 && n >= 1024)
		p = p[n:]
	}
	if len(p) == 0 {
		return crc
	}
	return crc32.Update(crc, table, p)
}

// minFold is the length from which folding beats hash/crc32's CRC32
// instruction.
const minFold = 64
