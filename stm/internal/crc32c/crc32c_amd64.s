// Copyright 2011 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.
//
// CRC-32C by carry-less multiplication: hash/crc32's ieeeCLMUL (crc32_amd64.s,
// Go 1.26) with the folding and Barrett constants of the Castagnoli
// polynomial (computed in constants_test.go), and the AVX-512 test made on a
// Go flag instead of internal/cpu.

#include "textflag.h"

// func fold(crc uint32, p []byte, avx512 bool) uint32
TEXT ·fold(SB),NOSPLIT,$0
	MOVL   crc+0(FP), X0             // Initial CRC value
	MOVQ   p+8(FP), SI  	         // data pointer
	MOVQ   p_len+16(FP), CX          // len(p)

	// Check feature support and length to be >= 1024 bytes.
	CMPB avx512+32(FP), $1
	JNE  useSSE42
	CMPQ CX, $1024
	JL   useSSE42

	// Use AVX512. Zero upper and Z10 and load initial CRC into lower part of Z10.
	VPXORQ    Z10, Z10, Z10
	VMOVAPS   X0, X10
	VMOVDQU64 (SI), Z1
	VPXORQ    Z10, Z1, Z1 // Merge initial CRC value into Z1
	ADDQ      $64, SI    // buf+=64
	SUBQ      $64, CX    // len-=64

	VMOVDQU64 r2r1<>+0(SB), Z0

loopback64Avx512:
	VMOVDQU64  (SI), Z11          // Load next
	VPCLMULQDQ $0x11, Z0, Z1, Z5
	VPCLMULQDQ $0, Z0, Z1, Z1
	VPTERNLOGD $0x96, Z11, Z5, Z1 // Combine results with xor into Z1

	ADDQ $0x40, DI
	ADDQ $64, SI    // buf+=64
	SUBQ $64, CX    // len-=64
	CMPQ CX, $64    // Less than 64 bytes left?
	JGE  loopback64Avx512

	// Unfold result into XMM1-XMM4 to match SSE4 code.
	VEXTRACTF32X4 $1, Z1, X2 // X2: Second 128-bit lane
	VEXTRACTF32X4 $2, Z1, X3 // X3: Third 128-bit lane
	VEXTRACTF32X4 $3, Z1, X4 // X4: Fourth 128-bit lane
	VZEROUPPER
	JMP remain64

	PCALIGN $16
useSSE42:
	MOVOU  (SI), X1
	MOVOU  16(SI), X2
	MOVOU  32(SI), X3
	MOVOU  48(SI), X4
	PXOR   X0, X1
	ADDQ   $64, SI                  // buf+=64
	SUBQ   $64, CX                  // len-=64
	CMPQ   CX, $64                  // Less than 64 bytes left
	JB     remain64

	MOVOA  r2r1<>+0(SB), X0
loopback64:
	MOVOA  X1, X5
	MOVOA  X2, X6
	MOVOA  X3, X7
	MOVOA  X4, X8

	PCLMULQDQ $0, X0, X1
	PCLMULQDQ $0, X0, X2
	PCLMULQDQ $0, X0, X3
	PCLMULQDQ $0, X0, X4

	/* Load next early */
	MOVOU    (SI), X11
	MOVOU    16(SI), X12
	MOVOU    32(SI), X13
	MOVOU    48(SI), X14

	PCLMULQDQ $0x11, X0, X5
	PCLMULQDQ $0x11, X0, X6
	PCLMULQDQ $0x11, X0, X7
	PCLMULQDQ $0x11, X0, X8

	PXOR     X5, X1
	PXOR     X6, X2
	PXOR     X7, X3
	PXOR     X8, X4

	PXOR     X11, X1
	PXOR     X12, X2
	PXOR     X13, X3
	PXOR     X14, X4

	ADDQ    $0x40, DI
	ADDQ    $64, SI      // buf+=64
	SUBQ    $64, CX      // len-=64
	CMPQ    CX, $64      // Less than 64 bytes left?
	JGE     loopback64

	PCALIGN $16
	/* Fold result into a single register (X1) */
remain64:
	MOVOA       r4r3<>+0(SB), X0

	MOVOA       X1, X5
	PCLMULQDQ   $0, X0, X1
	PCLMULQDQ   $0x11, X0, X5
	PXOR        X5, X1
	PXOR        X2, X1

	MOVOA       X1, X5
	PCLMULQDQ   $0, X0, X1
	PCLMULQDQ   $0x11, X0, X5
	PXOR        X5, X1
	PXOR        X3, X1

	MOVOA       X1, X5
	PCLMULQDQ   $0, X0, X1
	PCLMULQDQ   $0x11, X0, X5
	PXOR        X5, X1
	PXOR        X4, X1

	/* If there is less than 16 bytes left we are done */
	CMPQ        CX, $16
	JB          finish

	/* Encode 16 bytes */
remain16:
	MOVOU       (SI), X10
	MOVOA       X1, X5
	PCLMULQDQ   $0, X0, X1
	PCLMULQDQ   $0x11, X0, X5
	PXOR        X5, X1
	PXOR        X10, X1
	SUBQ        $16, CX
	ADDQ        $16, SI
	CMPQ        CX, $16
	JGE         remain16

finish:
	/* Fold final result into 32 bits and return it */
	PCMPEQB     X3, X3
	PCLMULQDQ   $1, X1, X0
	PSRLDQ      $8, X1
	PXOR        X0, X1

	MOVOA       X1, X2
	MOVQ        r5<>+0(SB), X0

	/* Creates 32 bit mask. Note that we don't care about upper half. */
	PSRLQ       $32, X3

	PSRLDQ      $4, X2
	PAND        X3, X1
	PCLMULQDQ   $0, X0, X1
	PXOR        X2, X1

	MOVOA       rupoly<>+0(SB), X0

	MOVOA       X1, X2
	PAND        X3, X1
	PCLMULQDQ   $0x10, X0, X1
	PAND        X3, X1
	PCLMULQDQ   $0, X0, X1
	PXOR        X2, X1

	PEXTRD	$1, X1, AX
	MOVL        AX, ret+40(FP)

	RET
// Castagnoli: x^544, x^480 (fold by 512 bits), x^160, x^96 (fold by 128),
// x^64, each reflected and shifted left one bit; P' and mu for Barrett.
DATA r2r1<>+0(SB)/8, $0x0740eef02
DATA r2r1<>+8(SB)/8, $0x09e4addf8
DATA r2r1<>+16(SB)/8, $0x0740eef02
DATA r2r1<>+24(SB)/8, $0x09e4addf8
DATA r2r1<>+32(SB)/8, $0x0740eef02
DATA r2r1<>+40(SB)/8, $0x09e4addf8
DATA r2r1<>+48(SB)/8, $0x0740eef02
DATA r2r1<>+56(SB)/8, $0x09e4addf8

DATA r4r3<>+0(SB)/8, $0x0f20c0dfe
DATA r4r3<>+8(SB)/8, $0x14cd00bd6
DATA rupoly<>+0(SB)/8, $0x105ec76f1
DATA rupoly<>+8(SB)/8, $0x0dea713f1
DATA r5<>+0(SB)/8, $0x0dd45aab8

GLOBL r2r1<>(SB), RODATA, $64
GLOBL r4r3<>(SB), RODATA, $16
GLOBL rupoly<>(SB), RODATA, $16
GLOBL r5<>(SB), RODATA, $8
