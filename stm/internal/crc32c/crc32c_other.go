//go:build !amd64

package crc32c

const (
	canFold   = false
	useAVX512 = false
)

func fold(crc uint32, p []byte, avx512 bool) uint32 { panic("crc32c: no folding on this architecture") }
