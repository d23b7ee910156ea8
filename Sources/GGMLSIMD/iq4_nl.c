// iq4_nl: fp16 d, 16 bytes of 4-bit codes laid out as q4_0's nibbles (18 bytes); weight =
// d·values[code] with iq4nl_values' 16 signed levels. Quant/IQ4_NL.swift. The x86 path looks the
// levels up with one byte shuffle per block and multiplies signed by signed (dot_s8s8).
// See include/GGMLSIMD.h and ggml_simd_internal.h.
#include "ggml_simd_internal.h"

float ggml_plain_iq4_nl(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) {
    (void)xsum;
    const uint8_t *p = w;
    float acc = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 18, *q = blk + 2;
        int s = 0;
        for (int j = 0; j < 16; j++) s += iq4nl_values[q[j] & 15] * x[b * 32 + j] + iq4nl_values[q[j] >> 4] * x[b * 32 + j + 16];
        acc += half_to_float(blk) * xd[b] * (float)s;
    }
    return acc;
}

void ggml_plain_iq4_nl_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_iq4_nl(w, x + k * stride, xd + k * (stride / 32), xsum, nb);
}

#if GGML_SIMD_X86

float ggml_simd_iq4_nl(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) {
    (void)xsum;
    const uint8_t *p = w;
#define IQ4_NL_STEP(B, A) { \
        const uint8_t *blk = p + (B) * 18; \
        __m256i v = lookup16(iq4nl_values, q4_0_nibbles(blk + 2)); \
        __m256i s = dot_s8s8(v, _mm256_loadu_si256((const __m256i *)(x + (B) * 32))); \
        A = _mm256_fmadd_ps(block_scale(blk, xd[B]), _mm256_cvtepi32_ps(s), A); }
    BLOCK_LOOP(IQ4_NL_STEP)
}

void ggml_simd_iq4_nl_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    (void)xsum;
    const uint8_t *p = w;
    const long ds = stride / 32;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 18;
        __m256i v = lookup16(iq4nl_values, q4_0_nibbles(blk + 2)), av = _mm256_sign_epi8(v, v);
        __m256 dw = block_scale(blk, 1);
        for (int k = 0; k < 4; k++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(x + k * stride + b * 32));
            __m256i s = dot_u8s8(av, _mm256_sign_epi8(xv, v));
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[k * ds + b])), _mm256_cvtepi32_ps(s), acc[k]);
        }
    }
    for (int k = 0; k < 4; k++) out[k] = hsum(acc[k]);
}

#else

float ggml_simd_iq4_nl(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) { return ggml_plain_iq4_nl(w, x, xd, xsum, nb); }
void ggml_simd_iq4_nl_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) { ggml_plain_iq4_nl_x4(w, x, xd, xsum, stride, nb, out); }
#endif
