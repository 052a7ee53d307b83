// Package crc32c computes CRC-32C (Castagnoli), bit for bit what
// hash/crc32 computes with crc32.MakeTable(crc32.Castagnoli), faster on
// amd64 CPUs with carry-less multiplication.
//
// hash/crc32 computes CRC-32C with the SSE4.2 CRC32 instruction (three
// streams, about 6.5 GB/s on the 2-core EPYC of stm/BENCH.md) but folds
// CRC-32 (IEEE) with PCLMULQDQ / AVX-512 VPCLMULQDQ (about 26 GB/s there).
// Folding works for any polynomial: this package runs the same folding code
// with the Castagnoli constants, so the STM mirror stream keeps its format
// (CRC-32C frames) and checks each frame at close to memory speed. Inputs of
// fewer than 64 bytes, and the last len%16 bytes, go through hash/crc32.
package crc32c
