//go:build !amd64

package crc32c

// No folding here: Update is hash/crc32's CRC-32C.
var (
	canFold   = false
	useAVX512 = false
)

func fold(crc uint32, p []byte, avx512 bool) uint32 { panic("crc32c: no folding on this architecture") }
