// Integer dot products of one ggml weight row (blocks of any type exprun computes on, as stored) with q8
// activations (plain Int8 values, one float scale per block, Int32 sums per 32 / 16 values), in C
// with x86 intrinsics: Swift does not emit `vpmaddubsw` / `vpdpbusd` (unsigned × signed bytes
// summed into 16 / 32 bits), which do 32 byte products per instruction. The `_x4` versions take
// four activation rows `stride` values apart (prefill) and unpack each weight block once for them.
// Every function has a plain C version (`ggml_plain_*`, the fallback on other machines); the tests
// compare both with the Swift reference dot (GGMLDot.reference).
#ifndef GGMLSIMD_H
#define GGMLSIMD_H
#include <stdint.h>
#include "GroupQuantSIMD.h"   // GPTQ / AWQ group codes (Quant/GroupQuantized.swift)
#include "BnbSIMD.h"          // bitsandbytes 4-bit and int8 (Quant/Bnb4Bit.swift, Quant/BnbInt8.swift)
#include "HalfSIMD.h"         // fp16 / bf16 weights times F32 prompts (Quant/F16.swift, Quant/BF16.swift)
#include "F32SIMD.h"          // F32 weights times F32 prompts on AVX2 (Quant/F32.swift)

float ggml_simd_q8_0(const void *w, const int8_t *x, const float *xd, int nb);
float ggml_simd_q4_0(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb);
float ggml_simd_q4_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb);
float ggml_simd_q5_0(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb);
float ggml_simd_q6_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb);

void ggml_simd_q8_0_x4(const void *w, const int8_t *x, const float *xd, long stride, int nb, float *out);
void ggml_simd_q4_0_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out);
void ggml_simd_q4_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out);
void ggml_simd_q5_0_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out);
void ggml_simd_q6_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out);

// The plain C versions (the fallback), callable everywhere so tests can check them too.
float ggml_plain_q8_0(const void *w, const int8_t *x, const float *xd, int nb);
float ggml_plain_q4_0(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb);
float ggml_plain_q4_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb);
float ggml_plain_q5_0(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb);
float ggml_plain_q6_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb);
void ggml_plain_q8_0_x4(const void *w, const int8_t *x, const float *xd, long stride, int nb, float *out);
void ggml_plain_q4_0_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out);
void ggml_plain_q4_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out);
void ggml_plain_q5_0_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out);
void ggml_plain_q6_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out);

// The other block types, one signature for all: `sums` are the activations' block sums (q8_0:
// one per 32 values, for q4_1 / q5_1's minimums) or sums of 16 (q8_K: q2_K / q3_K / q5_K); iq4_nl
// and iq4_xs do not read them. One C file per type (q4_1.c, ...), each with its plain twin.
#define GGML_KERNELS(T) \
    float ggml_simd_##T(const void *w, const int8_t *x, const float *xd, const int32_t *sums, int nb); \
    void ggml_simd_##T##_x4(const void *w, const int8_t *x, const float *xd, const int32_t *sums, long stride, int nb, float *out); \
    float ggml_plain_##T(const void *w, const int8_t *x, const float *xd, const int32_t *sums, int nb); \
    void ggml_plain_##T##_x4(const void *w, const int8_t *x, const float *xd, const int32_t *sums, long stride, int nb, float *out);
GGML_KERNELS(q4_1)
GGML_KERNELS(q5_1)
GGML_KERNELS(q2_K)
GGML_KERNELS(q3_K)
GGML_KERNELS(q5_K)
GGML_KERNELS(iq4_nl)
GGML_KERNELS(iq4_xs)

// Their 8-row kernels on interleaved groups (see below), same arguments as the 8-row ones there.
#define GGML_GROUP_KERNELS(T) \
    void ggml_simd_##T##x8(const void *w, const int8_t *x, const float *xd, const int32_t *sums, int nb, float *out); \
    void ggml_simd_##T##x8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *sums, long stride, int nb, float *out); \
    void ggml_plain_##T##x8(const void *w, const int8_t *x, const float *xd, const int32_t *sums, int nb, float *out); \
    void ggml_plain_##T##x8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *sums, long stride, int nb, float *out);
GGML_GROUP_KERNELS(q4_1)
GGML_GROUP_KERNELS(q5_1)
GGML_GROUP_KERNELS(q2_K)
GGML_GROUP_KERNELS(q3_K)
GGML_GROUP_KERNELS(q5_K)
GGML_GROUP_KERNELS(iq4_nl)
GGML_GROUP_KERNELS(iq4_xs)

// Eight weight rows interleaved block by block (Quant/Interleaved.swift): every field of the 8
// rows' blocks sits side by side, 4 bytes of each row per 32-byte vector (fp16 fields 2 bytes per
// row). One `vpdpbusd` then gives all 8 rows' partial sums, one per lane, against 4 activation
// bytes broadcast: no horizontal sums, one scale conversion for 8 rows. Write out[r] for the 8
// rows (`_x4`: out[8k + r] for 4 activation rows `stride` values apart).
void ggml_simd_q4_0x8(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb, float *out);
void ggml_simd_q8_0x8(const void *w, const int8_t *x, const float *xd, int nb, float *out);
void ggml_simd_q4_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out);
void ggml_simd_q4_0x8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out);
void ggml_simd_q8_0x8_x4(const void *w, const int8_t *x, const float *xd, long stride, int nb, float *out);
void ggml_simd_q4_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out);
void ggml_simd_q5_0x8(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb, float *out);
void ggml_simd_q5_0x8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out);
void ggml_simd_q6_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out);
void ggml_simd_q6_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out);
void ggml_plain_q5_0x8(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb, float *out);
void ggml_plain_q5_0x8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out);
void ggml_plain_q6_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out);
void ggml_plain_q6_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out);
void ggml_plain_q4_0x8(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb, float *out);
void ggml_plain_q8_0x8(const void *w, const int8_t *x, const float *xd, int nb, float *out);
void ggml_plain_q4_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out);
void ggml_plain_q4_0x8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out);
void ggml_plain_q8_0x8_x4(const void *w, const int8_t *x, const float *xd, long stride, int nb, float *out);
void ggml_plain_q4_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out);

// `groups` consecutive groups (8 rows each) against all `rows` activation rows (`stride` values
// apart): y[k·ldy + 8g + r] for activation row k (prefill; each super-block is unpacked once for
// all the activation rows, Sources/GGMLSIMD/ggml_simd_tile.h).
#define GGML_ALL_ROWS_KERNELS(T) \
    void ggml_simd_##T##x8_xn(const void *w, int groups, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, \
                              int rows, float *y, long ldy); \
    void ggml_plain_##T##x8_xn(const void *w, int groups, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, \
                               int rows, float *y, long ldy);
GGML_ALL_ROWS_KERNELS(q6_K)
GGML_ALL_ROWS_KERNELS(q4_K)
GGML_ALL_ROWS_KERNELS(q5_K)
GGML_ALL_ROWS_KERNELS(q3_K)
GGML_ALL_ROWS_KERNELS(q2_K)
GGML_ALL_ROWS_KERNELS(iq4_xs)
GGML_ALL_ROWS_KERNELS(iq4_nl)   // sums: the activations' block sums (q8_0)

// Two consecutive groups (16 rows; the second `group_bytes` after the first) against four activation
// rows: out[16k + r], r < 8 from the first group. 512-bit vectors where the CPU has AVX-512 VNNI.
void ggml_simd_q4_0x16_x4(const void *w, long group_bytes, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out);
void ggml_plain_q4_0x16_x4(const void *w, long group_bytes, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out);

// One activation row of n values (a multiple of the block) quantized to q8_0 / q8_K
// (Kernels/ActivationQuant.swift, byte for byte its Swift loops): 1, or 0 where the x86 path is
// not compiled in and the caller quantizes.
int ggml_simd_quantize_q8_0(const float *x, long n, int8_t *q, float *d, int32_t *sums);
int ggml_simd_quantize_q8_K(const float *x, long n, int8_t *q, float *d, int32_t *sums);

/// 1 when the x86 SIMD paths were compiled in, 0 for the plain fallback (reported by tests).
int ggml_simd_vectorized(void);

#endif
