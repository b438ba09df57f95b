#include "textflag.h"

// One step of lane R (a node index): SI = nodes, DI = quantized bytes,
// the row byte of slot s at s*SCALE+K(DI). CX collects the cuts (all 255:
// every lane was on a leaf). AX, BX, DX are scratch.
// CMPB BX, mem sets the carry when cut < byte, i.e. the row goes right;
// ADCL adds delta and the carry: R = R + delta + (byte > cut).
#define LANE(R, K, SCALE) \
	MOVWLZX 0(SI)(R*4), AX \
	MOVBLZX 2(SI)(R*4), BX \
	MOVBLZX 3(SI)(R*4), DX \
	ANDL    BX, CX \
	CMPB    BX, K(DI)(AX*SCALE) \
	ADCL    DX, R

// func walkGroupsAsm(tr *lnode, leaf *float64, q *byte, groups, gs int, acc *float64)
TEXT ·walkGroupsAsm(SB), NOSPLIT, $16-48
	MOVQ tr+0(FP), SI
	MOVQ q+16(FP), DI
	MOVQ groups+24(FP), AX
	MOVQ AX, 0(SP)
	MOVQ acc+40(FP), AX
	MOVQ AX, 8(SP)

group:
	XORL R8, R8
	XORL R9, R9
	XORL R10, R10
	XORL R11, R11
	XORL R12, R12
	XORL R13, R13
	XORL R14, R14
	XORL R15, R15

step:
	MOVL $255, CX
	LANE(R8, 0, 8)
	LANE(R9, 1, 8)
	LANE(R10, 2, 8)
	LANE(R11, 3, 8)
	LANE(R12, 4, 8)
	LANE(R13, 5, 8)
	LANE(R14, 6, 8)
	LANE(R15, 7, 8)
	CMPB CX, $255
	JNE  step

	// acc[8g+k] += leaf[lane k], lanes in order
	MOVQ  leaf+8(FP), AX
	MOVQ  8(SP), BX
	MOVSD (AX)(R8*8), X0
	ADDSD 0(BX), X0
	MOVSD X0, 0(BX)
	MOVSD (AX)(R9*8), X0
	ADDSD 8(BX), X0
	MOVSD X0, 8(BX)
	MOVSD (AX)(R10*8), X0
	ADDSD 16(BX), X0
	MOVSD X0, 16(BX)
	MOVSD (AX)(R11*8), X0
	ADDSD 24(BX), X0
	MOVSD X0, 24(BX)
	MOVSD (AX)(R12*8), X0
	ADDSD 32(BX), X0
	MOVSD X0, 32(BX)
	MOVSD (AX)(R13*8), X0
	ADDSD 40(BX), X0
	MOVSD X0, 40(BX)
	MOVSD (AX)(R14*8), X0
	ADDSD 48(BX), X0
	MOVSD X0, 48(BX)
	MOVSD (AX)(R15*8), X0
	ADDSD 56(BX), X0
	MOVSD X0, 56(BX)
	ADDQ  $64, BX
	MOVQ  BX, 8(SP)
	ADDQ  gs+32(FP), DI
	DECQ  0(SP)
	JNZ   group
	RET

// func walkTreesAsm(nodes *lnode, q *qRow, roots, leaves *[laneRows]uint32)
TEXT ·walkTreesAsm(SB), NOSPLIT, $0-32
	MOVQ  nodes+0(FP), SI
	MOVQ  q+8(FP), DI
	MOVQ  roots+16(FP), AX
	MOVLQZX 0(AX), R8
	MOVLQZX 4(AX), R9
	MOVLQZX 8(AX), R10
	MOVLQZX 12(AX), R11
	MOVLQZX 16(AX), R12
	MOVLQZX 20(AX), R13
	MOVLQZX 24(AX), R14
	MOVLQZX 28(AX), R15

tstep:
	MOVL $255, CX
	LANE(R8, 0, 1)
	LANE(R9, 0, 1)
	LANE(R10, 0, 1)
	LANE(R11, 0, 1)
	LANE(R12, 0, 1)
	LANE(R13, 0, 1)
	LANE(R14, 0, 1)
	LANE(R15, 0, 1)
	CMPB CX, $255
	JNE  tstep

	MOVQ leaves+24(FP), AX
	MOVL R8, 0(AX)
	MOVL R9, 4(AX)
	MOVL R10, 8(AX)
	MOVL R11, 12(AX)
	MOVL R12, 16(AX)
	MOVL R13, 20(AX)
	MOVL R14, 24(AX)
	MOVL R15, 28(AX)
	RET

// One binary-search step of lane P (an index in the cut keys at SI) for
// the row key at K(DI): P += CX when the key at P+CX-1 is below it.
#define QSTEP(P, K) \
	LEAQ  -1(P)(CX*1), AX \
	MOVQ  (SI)(AX*8), AX \
	CMPQ  AX, K(DI) \
	SBBQ  AX, AX \
	ANDQ  CX, AX \
	ADDQ  AX, P

// func searchCutsAsm(keys *uint64, chunks *qchunk, n int, kb *uint64, out *byte)
TEXT ·searchCutsAsm(SB), NOSPLIT, $8-40
	MOVQ keys+0(FP), SI
	MOVQ chunks+8(FP), BX
	MOVQ kb+24(FP), DI
	MOVQ out+32(FP), DX
	MOVQ n+16(FP), AX
	MOVQ AX, 0(SP)
	TESTQ AX, AX
	JEQ  qdone

qchunk:
	MOVLQZX 0(BX), R8
	MOVLQZX 4(BX), R9
	MOVLQZX 8(BX), R10
	MOVLQZX 12(BX), R11
	MOVLQZX 16(BX), R12
	MOVLQZX 20(BX), R13
	MOVLQZX 24(BX), R14
	MOVLQZX 28(BX), R15
	MOVLQZX 32(BX), CX   // size
	SHRQ $1, CX
	JEQ  qstore

qstep:
	QSTEP(R8, 0)
	QSTEP(R9, 8)
	QSTEP(R10, 16)
	QSTEP(R11, 24)
	QSTEP(R12, 32)
	QSTEP(R13, 40)
	QSTEP(R14, 48)
	QSTEP(R15, 56)
	SHRQ $1, CX
	JNE  qstep

qstore:
	SUBL 0(BX), R8
	SUBL 4(BX), R9
	SUBL 8(BX), R10
	SUBL 12(BX), R11
	SUBL 16(BX), R12
	SUBL 20(BX), R13
	SUBL 24(BX), R14
	SUBL 28(BX), R15
	MOVLQZX 36(BX), AX   // out
	ADDQ DX, AX
	MOVB R8, 0(AX)
	MOVB R9, 1(AX)
	MOVB R10, 2(AX)
	MOVB R11, 3(AX)
	MOVB R12, 4(AX)
	MOVB R13, 5(AX)
	MOVB R14, 6(AX)
	MOVB R15, 7(AX)
	MOVB R8, 8(AX)
	MOVB R9, 9(AX)
	MOVB R10, 10(AX)
	MOVB R11, 11(AX)
	MOVB R12, 12(AX)
	MOVB R13, 13(AX)
	MOVB R14, 14(AX)
	MOVB R15, 15(AX)
	ADDQ $40, BX
	ADDQ $64, DI
	DECQ 0(SP)
	JNE  qchunk

qdone:
	RET

// func walkTreesSumAsm(nodes *lnode, leaf *float64, q *qRow, roots *[laneRows]uint32, s *float64)
TEXT ·walkTreesSumAsm(SB), NOSPLIT, $0-40
	MOVQ  nodes+0(FP), SI
	MOVQ  q+16(FP), DI
	MOVQ  roots+24(FP), AX
	MOVLQZX 0(AX), R8
	MOVLQZX 4(AX), R9
	MOVLQZX 8(AX), R10
	MOVLQZX 12(AX), R11
	MOVLQZX 16(AX), R12
	MOVLQZX 20(AX), R13
	MOVLQZX 24(AX), R14
	MOVLQZX 28(AX), R15

sstep:
	MOVL $255, CX
	LANE(R8, 0, 1)
	LANE(R9, 0, 1)
	LANE(R10, 0, 1)
	LANE(R11, 0, 1)
	LANE(R12, 0, 1)
	LANE(R13, 0, 1)
	LANE(R14, 0, 1)
	LANE(R15, 0, 1)
	CMPB CX, $255
	JNE  sstep

	// *s += leaf[lane k], lanes in order
	MOVQ  leaf+8(FP), AX
	MOVQ  s+32(FP), BX
	MOVSD 0(BX), X0
	ADDSD (AX)(R8*8), X0
	ADDSD (AX)(R9*8), X0
	ADDSD (AX)(R10*8), X0
	ADDSD (AX)(R11*8), X0
	ADDSD (AX)(R12*8), X0
	ADDSD (AX)(R13*8), X0
	ADDSD (AX)(R14*8), X0
	ADDSD (AX)(R15*8), X0
	MOVSD X0, 0(BX)
	RET
