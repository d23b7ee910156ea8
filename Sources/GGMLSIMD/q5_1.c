// q5_1: fp16 d, fp16 m, 4 bytes of fifth bits, 16 bytes of nibbles as q5_0's (24 bytes);
// weight = d·q + m, q in 0…31. Quant/Q5_1.swift. The minimum enters once per block through Σx.
// See include/GGMLSIMD.h and ggml_simd_internal.h.
#include "ggml_simd_internal.h"

float ggml_plain_q5_1(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) {
    const uint8_t *p = w;
    float acc = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 24, *q = blk + 8;
        uint32_t qh;
        memcpy(&qh, blk + 4, 4);
        int s = 0;
        for (int j = 0; j < 16; j++) {
            s += ((q[j] & 15) | ((qh >> j) & 1) << 4) * x[b * 32 + j];
            s += ((q[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) * x[b * 32 + j + 16];
        }
        acc += half_to_float(blk) * xd[b] * (float)s + half_to_float(blk + 2) * xd[b] * (float)xsum[b];
    }
    return acc;
}

void ggml_plain_q5_1_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_q5_1(w, x + k * stride, xd + k * (stride / 32), xsum + k * (stride / 32), nb);
}

PLAIN_GROUP_KERNELS(q5_1, 32, 24, 0, 2, 4, 8)

#if GGML_SIMD_X86

static inline __m256i q5_1_values(const uint8_t *blk) {
    uint32_t qh;
    memcpy(&qh, blk + 4, 4);
    return _mm256_or_si256(q4_0_nibbles(blk + 8), bits_to_bytes(qh, 16));
}

float ggml_simd_q5_1(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) {
    const uint8_t *p = w;
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    float mins = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 24;
        __m256i s = dot_u8s8(q5_1_values(blk), _mm256_loadu_si256((const __m256i *)(x + b * 32)));
        acc[b & 1] = _mm256_fmadd_ps(block_scale(blk, xd[b]), _mm256_cvtepi32_ps(s), acc[b & 1]);
        mins += half_to_float(blk + 2) * xd[b] * (float)xsum[b];
    }
    return hsum(_mm256_add_ps(acc[0], acc[1])) + mins;
}

void ggml_simd_q5_1_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 32;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float mins[4] = {0, 0, 0, 0};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 24;
        __m256i q = q5_1_values(blk);
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


// Eight rows interleaved (192-byte group blocks: 8 fp16 d, 8 fp16 m, 8 × 4 bytes of fifth bits,
// 4 vectors of nibbles), as q5_0's groups plus the minimums.
static inline void q5_1x8_unpack(const uint8_t *blk, __m256i *lo, __m256i *hi) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 32));
    for (int v = 0; v < 4; v++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 64 + 32 * v));
        lo[v] = _mm256_or_si256(_mm256_and_si256(q, m4), q5_0x8_high(qh, 4 * v));
        hi[v] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), q5_0x8_high(qh, 16 + 4 * v));
    }
}

GROUP_KERNELS_WITH_MIN(q5_1, 192, q5_1x8_unpack)

#else
void ggml_simd_q5_1x8(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb, float *out) { ggml_plain_q5_1x8(w, x, xd, xsum, nb, out); }
void ggml_simd_q5_1x8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) { ggml_plain_q5_1x8_x4(w, x, xd, xsum, stride, nb, out); }

float ggml_simd_q5_1(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) { return ggml_plain_q5_1(w, x, xd, xsum, nb); }
void ggml_simd_q5_1_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) { ggml_plain_q5_1_x4(w, x, xd, xsum, stride, nb, out); }
#endif
