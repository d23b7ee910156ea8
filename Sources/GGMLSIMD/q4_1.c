// q4_1: fp16 d, fp16 m, 16 bytes of nibbles as q4_0's (20 bytes); weight = d·q + m. Quant/Q4_1.swift.
// The minimum enters once per block: Σ(d·q + m)·x = d·Σq·x + m·Σx, with Σx the activations' block sum.
// See include/GGMLSIMD.h and ggml_simd_internal.h.
#include "ggml_simd_internal.h"

float ggml_plain_q4_1(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) {
    const uint8_t *p = w;
    float acc = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 20, *q = blk + 4;
        int s = 0;
        for (int j = 0; j < 16; j++) s += (q[j] & 15) * x[b * 32 + j] + (q[j] >> 4) * x[b * 32 + j + 16];
        acc += half_to_float(blk) * xd[b] * (float)s + half_to_float(blk + 2) * xd[b] * (float)xsum[b];
    }
    return acc;
}

void ggml_plain_q4_1_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_q4_1(w, x + k * stride, xd + k * (stride / 32), xsum + k * (stride / 32), nb);
}

PLAIN_GROUP_KERNELS(q4_1, 32, 20, 0, 2, 4)

#if GGML_SIMD_X86

// Two accumulators so that consecutive blocks' FMAs do not wait on each other; the minimums in a
// scalar beside them.
float ggml_simd_q4_1(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) {
    const uint8_t *p = w;
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    float mins = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 20;
        __m256i s = dot_u8s8(q4_0_nibbles(blk + 4), _mm256_loadu_si256((const __m256i *)(x + b * 32)));
        acc[b & 1] = _mm256_fmadd_ps(block_scale(blk, xd[b]), _mm256_cvtepi32_ps(s), acc[b & 1]);
        mins += half_to_float(blk + 2) * xd[b] * (float)xsum[b];
    }
    return hsum(_mm256_add_ps(acc[0], acc[1])) + mins;
}

void ggml_simd_q4_1_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 32;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float mins[4] = {0, 0, 0, 0};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 20;
        __m256i q = q4_0_nibbles(blk + 4);
        __m256 dw = block_scale(blk, 1);
        float m = half_to_float(blk + 2);
        for (int k = 0; k < 4; k++) {
            __m256i s = dot_u8s8(q, _mm256_loadu_si256((const __m256i *)(x + k * stride + b * 32)));
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[k * ds + b])), _mm256_cvtepi32_ps(s), acc[k]);
            mins[k] += m * xd[k * ds + b] * (float)xsum[k * ds + b];
        }
    }
    for (int k = 0; k < 4; k++) out[k] = hsum(acc[k]) + mins[k];
}


// Eight rows interleaved (160-byte group blocks: 8 fp16 d, 8 fp16 m, 4 vectors of nibbles as q4_0's
// groups); the minimums m·Σx in the 8 lanes with one FMA per block.
static inline void q4_1x8_unpack(const uint8_t *blk, __m256i *lo, __m256i *hi) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int v = 0; v < 4; v++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 32 + 32 * v));
        lo[v] = _mm256_and_si256(q, m4);
        hi[v] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    }
}

GROUP_KERNELS_WITH_MIN(q4_1, 160, q4_1x8_unpack)

#else
void ggml_simd_q4_1x8(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb, float *out) { ggml_plain_q4_1x8(w, x, xd, xsum, nb, out); }
void ggml_simd_q4_1x8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) { ggml_plain_q4_1x8_x4(w, x, xd, xsum, stride, nb, out); }

float ggml_simd_q4_1(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) { return ggml_plain_q4_1(w, x, xd, xsum, nb); }
void ggml_simd_q4_1_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) { ggml_plain_q4_1_x4(w, x, xd, xsum, stride, nb, out); }
#endif
