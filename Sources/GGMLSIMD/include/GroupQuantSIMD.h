// Dot products of one row of group-quantized codes (GPTQ / AWQ / round-to-nearest, the layout of
// Quant/GroupQuantized.swift) with q8 activations: per group g of `bpg` blocks of 32 codes,
//   Σ_g s_g · (Σ_b d_b · Σ_j code_j · x_j  −  z_g · gsum_g),   gsum_g = Σ_b d_b · Σ_j x_j
// (the zero point applied once per group through the activations' sums, as q4_0's −8 is). The
// integer products are unsigned codes × signed activation bytes (`vpdpbusd`). Scales are fp16
// bits, zeros bytes. The `_x4` versions take four activation rows `stride` values apart (their
// scales `nblocks` apart, group sums `groups` apart) and decode each block of codes once for all.
// `gq_plain_*` are the plain C versions (the fallback elsewhere), checked by the tests too;
// `gq_avx2_*` the AVX2 ones, what `gq_simd_*` run without AVX-512 VNNI (plain where the compiler
// targets no AVX2), callable on AVX-512 machines so that the tests check them there.
#ifndef GROUPQUANTSIMD_H
#define GROUPQUANTSIMD_H
#include <stdint.h>

// 4-bit: 16 bytes per block, byte j = code j (low nibble) | code j+16 (high nibble).
float gq_simd_q4(const uint8_t *codes, const int8_t *x, const float *xd, const float *gsum,
                 const uint16_t *scales, const uint8_t *zeros, int groups, int bpg);
float gq_avx2_q4(const uint8_t *codes, const int8_t *x, const float *xd, const float *gsum,
                 const uint16_t *scales, const uint8_t *zeros, int groups, int bpg);
void gq_simd_q4_x4(const uint8_t *codes, const int8_t *x, const float *xd, const float *gsum,
                   const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, long stride, float *out);
void gq_avx2_q4_x4(const uint8_t *codes, const int8_t *x, const float *xd, const float *gsum,
                   const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, long stride, float *out);
float gq_plain_q4(const uint8_t *codes, const int8_t *x, const float *xd, const float *gsum,
                  const uint16_t *scales, const uint8_t *zeros, int groups, int bpg);
void gq_plain_q4_x4(const uint8_t *codes, const int8_t *x, const float *xd, const float *gsum,
                    const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, long stride, float *out);

// 4-bit, 16 rows interleaved (a tile; Quant/GroupQuantized.swift): block k of the tile is 256 bytes,
// four vectors of 64, vector v holding bytes 4v…4v+3 of each row's 16 plain bytes (row r at 4r),
// so that one `vpdpbusd` against 4 activation bytes broadcast adds to all 16 rows' sums. The scales
// and zeros of the tile are [groups][16]; `out` gets the 16 rows' products (`_x4`: 4 × 16, activation
// row by activation row).
void gq_simd_q4x16(const uint8_t *tile, const int8_t *x, const float *xd, const float *gsum,
                   const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, float *out);
void gq_avx2_q4x16(const uint8_t *tile, const int8_t *x, const float *xd, const float *gsum,
                   const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, float *out);
void gq_simd_q4x16_x4(const uint8_t *tile, const int8_t *x, const float *xd, const float *gsum,
                      const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, long stride, float *out);
void gq_avx2_q4x16_x4(const uint8_t *tile, const int8_t *x, const float *xd, const float *gsum,
                      const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, long stride, float *out);
void gq_plain_q4x16(const uint8_t *tile, const int8_t *x, const float *xd, const float *gsum,
                    const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, float *out);
void gq_plain_q4x16_x4(const uint8_t *tile, const int8_t *x, const float *xd, const float *gsum,
                       const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, long stride, float *out);

// 2, 3 and 8 bits: blocks of 8, 12 and 32 bytes (see Quant/GroupQuantized.swift), unpacked to
// bytes and summed the same way.
float gq_plain_qn(int bits, const uint8_t *codes, const int8_t *x, const float *xd, const float *gsum,
                  const uint16_t *scales, const uint8_t *zeros, int groups, int bpg);

#endif
