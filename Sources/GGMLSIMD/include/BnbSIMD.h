// Kernels of bitsandbytes' formats (Quant/Bnb4Bit.swift, Quant/BnbInt8.swift), in C because Swift
// emits neither `vpermps` (a 16-entry F32 table looked up by 16 lane indices at once) nor
// `vpdpbusd` (64 byte products summed into 16 Int32 lanes). The x86 paths have an AVX-512 version
// (F, BW, VNNI) and an AVX2 one, which the tests check on AVX-512 machines too (`*_avx2_*`). Each
// function has a plain C twin (`*_plain_*`, the fallback elsewhere) that the tests check against
// the Swift references too.
#ifndef BNBSIMD_H
#define BNBSIMD_H
#include <stdint.h>

// A 4-bit weight's per-block absmax: `absmax[b]`, or with double quantization
// dynamic[absmax8[b]] · absmax2[b / 256] + offset.
typedef struct {
    const float *absmax;          // NULL with double quantization
    const uint8_t *absmax8;
    const float *absmax2;
    const float *dynamic;
    float offset;
} bnb4_scales;

// Activations in the order the 4-bit kernels read them (n a multiple of 32): value i at
// bnb4_position(i, n). Within each whole chunk of 128 values, value 8j + m at 16·(m ^ 1) + j (lane j
// of a 64-byte load of codes holds values 8j…8j+7, nibble m ^ 1 for value 8j + m: a byte holds an
// even value's code in its high nibble, the next value's in its low one); the values past the last
// whole chunk in groups of 32, the 16 at even positions then the 16 at odd ones.
int bnb4_position(int i, int n);
void bnb4_order(const float *x, int n, float *xp);

// y[r] = Σ_i table[code(e + r·n + i)] · absmax(block(e + r·n + i)) · x[i] over i < n, for r < rows:
// weight rows of n values starting at flat element e of the packed codes (two per byte, first in
// the high nibble), blocks of `block` values counted from element 0. e, n and block are multiples
// of 32; `xp` is x in bnb4_order.
void bnb4_simd_dot(const uint8_t *packed, long e, int rows, int n, int block, const bnb4_scales *s, const float *table, const float *xp,
                   float *y);
void bnb4_plain_dot(const uint8_t *packed, long e, int rows, int n, int block, const bnb4_scales *s, const float *table, const float *xp,
                    float *y);

// The same n weights dequantized (table[code] · absmax, as Bnb4BitLinear.dequantizeRow) into dst in
// bnb4_order's order: a prompt's activation rows, put in that order once, meet them there.
void bnb4_simd_widen(const uint8_t *packed, long e, int n, int block, const bnb4_scales *s, const float *table, float *dst);
void bnb4_plain_widen(const uint8_t *packed, long e, int n, int block, const bnb4_scales *s, const float *table, float *dst);
// The AVX2 versions of the two (the plain ones where the compiler targets no AVX2): what
// bnb4_simd_* run without AVX-512, callable on AVX-512 machines so that the tests check them there.
void bnb4_avx2_dot(const uint8_t *packed, long e, int rows, int n, int block, const bnb4_scales *s, const float *table, const float *xp,
                   float *y);
void bnb4_avx2_widen(const uint8_t *packed, long e, int n, int block, const bnb4_scales *s, const float *table, float *dst);

// out[r·ldo + o] = Σ_i w[o·n + i] · x[r·n + i], exact in Int32, for weight rows o0 ≤ o < o1 of an
// int8 weight [m, n] and activation rows r < rows of int8 codes [rows, n]; xsum[r] = Σ_i x[r·n + i]
// (the AVX-512 path multiplies w + 128 as unsigned bytes and subtracts 128 · xsum; the AVX2 one
// does without it). |w| ≤ 127.
void bnb_int8_simd_gemm(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum, int rows,
                        int32_t *out, long ldo);
void bnb_int8_avx2_gemm(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum, int rows,
                        int32_t *out, long ldo);
void bnb_int8_plain_gemm(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum, int rows,
                         int32_t *out, long ldo);

// 1/127² as bitsandbytes' dequantization kernel spells it (6.200012e-05).
#define BNB_INT8_DEQUANT 6.200012e-05f

// The scale of a row of codes, bitsandbytes' CUDA __fdividef(127, absmax) for an fp16 absmax > 0:
// IEEE 127·(1/absmax) moved by the ulps the GPU's approximate reciprocal differs by (bnb_int8.c).
float bnb_int8_code_scale(float absmax);

// LLM.int8()'s activations (Quant/BnbInt8.swift, forward step 1), `rows` rows of n F32 values:
// a = fp16(x); outlier[i] = 1 where |a[r, i]| >= threshold in some row (none when threshold is 0),
// else 0; sca[r] = max |a[r, i]| over the entries below the threshold (all when 0);
// codes[r, i] = round_half_even(a[r, i] · bnb_int8_code_scale(sca[r])), 0 in outlier columns and in rows whose
// sca is 0; sums[r] = Σ_i codes[r, i]. Returns the number of outlier columns.
int bnb_int8_simd_quantize(const float *x, int rows, int n, float threshold, uint8_t *outlier, int8_t *codes, float *sca,
                           int32_t *sums);
int bnb_int8_avx2_quantize(const float *x, int rows, int n, float threshold, uint8_t *outlier, int8_t *codes, float *sca,
                           int32_t *sums);
int bnb_int8_plain_quantize(const float *x, int rows, int n, float threshold, uint8_t *outlier, int8_t *codes, float *sca,
                            int32_t *sums);

// The layer's int8 part for weight rows o0 <= o < o1 (step 2): y[r·ldy + o] =
// fp16(((p·sca[r])·scb[o])·BNB_INT8_DEQUANT), then fp16(that + bias[o]) unless bias is NULL, where p
// is bnb_int8_*_gemm's exact product. The outlier columns' F32 part is the caller's to add.
void bnb_int8_simd_forward(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum, int rows,
                           const float *sca, const float *scb, const float *bias, float *y, long ldy);
void bnb_int8_avx2_forward(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum, int rows,
                           const float *sca, const float *scb, const float *bias, float *y, long ldy);
void bnb_int8_plain_forward(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum, int rows,
                            const float *sca, const float *scb, const float *bias, float *y, long ldy);

#endif
