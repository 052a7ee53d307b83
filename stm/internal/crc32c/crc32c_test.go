package crc32c

import (
	"hash/crc32"
	"math/bits"
	"math/rand"
	"testing"
)

// Every length from 0 to 4 KiB and some large ones, at every alignment
// offset 0–15, from random starting CRCs, on both folding paths: the same
// value as hash/crc32.
func TestMatchesHashCRC32(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	buf := make([]byte, 1<<20+64)
	rng.Read(buf)
	lengths := []int{1 << 20, 1<<20 - 1, 8192, 8192 + 28, 65536 + 15}
	for n := 0; n <= 4096; n++ {
		lengths = append(lengths, n)
	}
	saved := useAVX512
	defer func() { useAVX512 = saved }()
	for _, avx := range []bool{false, saved} {
		useAVX512 = avx
		for i, n := range lengths {
			off := i % 16
			p := buf[off : off+n]
			crc := rng.Uint32()
			if got, want := Update(crc, p), crc32.Update(crc, table, p); got != want {
				t.Fatalf("avx512=%v len %d off %d: got %#x, want %#x", avx, n, off, got, want)
			}
		}
	}
	if Checksum([]byte("123456789")) != 0xe3069283 { // the CRC-32C check value
		t.Fatal("check value")
	}
}

// A CRC computed in pieces equals the CRC of the whole.
func TestUpdateInPieces(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	p := make([]byte, 300000)
	rng.Read(p)
	want := crc32.Checksum(p, table)
	for range 50 {
		crc, rest := uint32(0), p
		for len(rest) > 0 {
			n := min(len(rest), rng.Intn(20000))
			crc, rest = Update(crc, rest[:n]), rest[n:]
		}
		if crc != want {
			t.Fatalf("pieces: %#x, whole: %#x", crc, want)
		}
	}
}

// The constants in crc32c_amd64.s: x^n mod P reflected and shifted left one
// bit, P reflected, and floor(x^64 / P) reflected; the same derivation gives
// hash/crc32's IEEE constants.
func TestFoldingConstants(t *testing.T) {
	type set struct{ k544, k480, k160, k96, k64, poly, mu uint64 }
	derive := func(p uint64) set {
		k := func(n int) uint64 { return reflect(xnmod(n, p), 32) << 1 }
		return set{k(544), k(480), k(160), k(96), k(64), reflect(p, 33), reflect(quotient64(p), 33)}
	}
	ieee := set{0x154442bd4, 0x1c6e41596, 0x1751997d0, 0x0ccaa009e, 0x163cd6124, 0x1db710641, 0x1f7011641}
	castagnoli := set{0x0740eef02, 0x09e4addf8, 0x0f20c0dfe, 0x14cd00bd6, 0x0dd45aab8, 0x105ec76f1, 0x0dea713f1}
	if got := derive(0x104c11db7); got != ieee {
		t.Fatalf("IEEE: derived %#x, hash/crc32 has %#x", got, ieee)
	}
	if got := derive(0x11edc6f41); got != castagnoli {
		t.Fatalf("Castagnoli: derived %#x, crc32c_amd64.s has %#x", got, castagnoli)
	}
}

// xnmod is x^n mod p (p of degree 32, normal bit order).
func xnmod(n int, p uint64) uint64 {
	v := uint64(1)
	for range n {
		if v <<= 1; v&(1<<32) != 0 {
			v ^= p
		}
	}
	return v
}

// quotient64 is floor(x^64 / p).
func quotient64(p uint64) uint64 {
	var q uint64
	rem := [2]uint64{0, 1} // x^64 as (low, high) words
	for i := 64; i >= 32; i-- {
		var bit uint64
		if i == 64 {
			bit = rem[1] & 1
		} else {
			bit = rem[0] >> uint(i) & 1
		}
		if bit == 1 {
			q |= 1 << uint(i-32)
			rem[0] ^= p << uint(i-32)
			if i-32 > 31 {
				rem[1] ^= p >> uint(64-(i-32))
			}
		}
	}
	return q
}

func reflect(v uint64, n int) uint64 { return bits.Reverse64(v) >> (64 - n) }

// BenchmarkCRC: this package against hash/crc32's CRC-32C and CRC-32 (IEEE)
// on 8 KiB pages, 1 MiB frames and 64 MiB (out of cache).
func BenchmarkCRC(b *testing.B) {
	for _, n := range []int{8 << 10, 1 << 20, 64 << 20} {
		p := make([]byte, n)
		for name, f := range map[string]func([]byte) uint32{
			"crc32c":      Checksum,
			"hash-crc32c": func(p []byte) uint32 { return crc32.Checksum(p, table) },
			"hash-ieee":   crc32.ChecksumIEEE,
		} {
			b.Run(name+"/"+itoa(n), func(b *testing.B) {
				b.SetBytes(int64(n))
				for b.Loop() {
					f(p)
				}
			})
		}
	}
}

func itoa(n int) string {
	if n >= 64<<20 {
		return "64MiB"
	}
	if n >= 1<<20 {
		return "1MiB"
	}
	return "8KiB"
}

// Combining the CRCs of two pieces gives the CRC of both, for pieces of
// every length from 0 to 300 and some large ones, against Update.
func TestCombineMatchesUpdate(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	buf := make([]byte, 3<<16)
	rng.Read(buf)
	lengths := []int{8192, 8192 + 29, 65536, 1 << 17}
	for n := 0; n <= 300; n++ {
		lengths = append(lengths, n)
	}
	for _, na := range []int{0, 1, 29, 8192} {
		a := buf[:na]
		for _, nb := range lengths {
			b := buf[na : na+nb]
			want := Update(Checksum(a), b)
			if got := ShiftFor(nb).Combine(Checksum(a), Checksum(b)); got != want {
				t.Fatalf("combine of %d and %d bytes: %#x, want %#x", na, nb, got, want)
			}
		}
	}
}
