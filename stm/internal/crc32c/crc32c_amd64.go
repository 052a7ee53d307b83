package crc32c

import "golang.org/x/sys/cpu"

var (
	canFold   = cpu.X86.HasPCLMULQDQ && cpu.X86.HasSSE41
	useAVX512 = canFold && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VPCLMULQDQ
)

// fold is the CRC of p (len(p) ≥ 64, a multiple of 16) starting from crc,
// both without the final inversions (crc32c_amd64.s); with avx512 (and
// len(p) ≥ 1024) it folds 64 bytes per VPCLMULQDQ step.
//
//go:noescape
func fold(crc uint32, p []byte, avx512 bool) uint32
