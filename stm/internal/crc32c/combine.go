package crc32c

// Combining CRCs (zlib's crc32_combine, for the Castagnoli polynomial): the
// CRC of a‖b from the CRCs of a and b and the length of b, without reading
// either. A frame's CRC is so made from its pages' CRCs, computed once when
// the pages were copied.

// poly is the Castagnoli polynomial, bit-reversed.
const poly = 0x82f63b78

// multModP returns a·b modulo the polynomial, both bit-reversed (x^0 in
// the top bit).
func multModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				break
			}
		}
		if b&1 != 0 {
			b = b>>1 ^ poly
		} else {
			b >>= 1
		}
	}
	return p
}

// x2n[k] is x^(2^k) modulo the polynomial.
var x2n = func() [32]uint32 {
	var t [32]uint32
	t[0] = 1 << 30 // x^1
	for k := 1; k < len(t); k++ {
		t[k] = multModP(t[k-1], t[k-1])
	}
	return t
}()

// Shift is the operator that appends a given number of bytes to a CRC
// (x^(8n) modulo the polynomial): made once per length, applied in a few
// shifts and XORs.
type Shift uint32

// ShiftFor returns the operator for n bytes.
func ShiftFor(n int) Shift {
	p := uint32(1) << 31 // x^0
	for k := 3; n > 0; n, k = n>>1, k+1 {
		if n&1 != 0 {
			p = multModP(x2n[k&31], p)
		}
	}
	return Shift(p)
}

// Combine returns the CRC-32C of a‖b given crcA of a and crcB of b, where s
// is ShiftFor(len(b)).
func (s Shift) Combine(crcA, crcB uint32) uint32 {
	return multModP(uint32(s), crcA) ^ crcB
}
