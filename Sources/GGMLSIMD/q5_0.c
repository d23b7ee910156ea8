// q5_0: fp16 d, 4 bytes of fifth bits (bit j: element j), 16 bytes of nibbles as q4_0 (22 bytes); Quant/Q5_0.swift.
// See include/GGMLSIMD.h and ggml_simd_internal.h.
#include "ggml_simd_internal.h"

float ggml_plain_q5_0(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) {
    const uint8_t *p = w;
    float acc = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 22, *q = blk + 6;
        uint32_t qh;
        memcpy(&qh, blk + 2, 4);
        int s = 0;
        for (int j = 0; j < 16; j++) {
            s += ((q[j] & 15) | ((qh >> j) & 1) << 4) * x[b * 32 + j];
            s += ((q[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) * x[b * 32 + j + 16];
        }
        acc += half_to_float(blk) * xd[b] * (float)(s - 16 * xsum[b]);
    }
    return acc;
}

void ggml_plain_q5_0x8(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb, float *out) {
    static const int fields[] = {0, 2, 6};
    const uint8_t *p = w;
    for (int r = 0; r < 8; r++) {
        float acc = 0;
        for (int b = 0; b < nb; b++) {
            uint8_t row[22];
            for (int i = 0; i < 22; i++) row[i] = group_byte(p + b * 176, fields, 3, 22, r, i);
            acc += ggml_plain_q5_0(row, x + 32 * b, xd + b, xsum + b, 1);
        }
        out[r] = acc;
    }
}

void ggml_plain_q5_0x8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) ggml_plain_q5_0x8(w, x + k * stride, xd + k * (stride / 32), xsum + k * (stride / 32), nb, out + 8 * k);
}

void ggml_plain_q5_0_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_q5_0(w, x + k * stride, xd + k * (stride / 32), xsum + k * (stride / 32), nb);
}

#if GGML_SIMD_X86

// q5_0's 32 weights of a block as bytes 0…31: the nibbles as q4_0's, each fifth bit (bit j of qh
// for element j) as 16.
static inline __m256i q5_0_values(const uint8_t *blk) {
    uint32_t qh;
    memcpy(&qh, blk + 2, 4);
    return _mm256_or_si256(q4_0_nibbles(blk + 6), bits_to_bytes(qh, 16));
}

float ggml_simd_q5_0(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) {
    const uint8_t *p = w;
#define Q5_0_STEP(B, A) { \
        const uint8_t *blk = p + (B) * 22; \
        __m256i xv = _mm256_loadu_si256((const __m256i *)(x + (B) * 32)); \
        __m256i s = _mm256_sub_epi32(dot_u8s8(q5_0_values(blk), xv), _mm256_set1_epi32(2 * xsum[B])); \
        A = _mm256_fmadd_ps(block_scale(blk, xd[B]), _mm256_cvtepi32_ps(s), A); }
    BLOCK_LOOP(Q5_0_STEP)
}

void ggml_simd_q5_0_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 32;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 22;
        __m256i q = q5_0_values(blk);
        __m256 dw = block_scale(blk, 1);
        for (int k = 0; k < 4; k++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(x + k * stride + b * 32));
            __m256i s = _mm256_sub_epi32(dot_u8s8(q, xv), _mm256_set1_epi32(2 * xsum[k * ds + b]));
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[k * ds + b])), _mm256_cvtepi32_ps(s), acc[k]);
        }
    }
    for (int k = 0; k < 4; k++) out[k] = hsum(acc[k]);
}

// Eight rows interleaved (176-byte group blocks: 8 fp16 d, 8 × 4 bytes of fifth bits, 4 vectors of
// nibbles as q4_0's groups). Lane r of the qh vector is row r's 32 fifth bits; for the 4 elements
// 4v…4v+3 in bytes 0…3 of each lane, a lane shift brings bits 4v…4v+3 down to byte 0, a shuffle
// copies that byte to all four, and byte b keeps bit b.
static inline void q5_0x8_unpack(const uint8_t *blk, __m256i *lo, __m256i *hi) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 16));
    for (int v = 0; v < 4; v++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 48 + 32 * v));
        lo[v] = _mm256_or_si256(_mm256_and_si256(q, m4), q5_0x8_high(qh, 4 * v));
        hi[v] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), q5_0x8_high(qh, 16 + 4 * v));
    }
}

void ggml_simd_q5_0x8(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb, float *out) {
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 176;
        __m256i lo[4], hi[4];
        q5_0x8_unpack(blk, lo, hi);
        __m256i isum = _mm256_sub_epi32(x8_dot_32(lo, hi, x + 32 * b), _mm256_set1_epi32(16 * xsum[b]));
        __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)), _mm256_set1_ps(xd[b]));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
    }
    _mm256_storeu_ps(out, acc);
}

void ggml_simd_q5_0x8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 32;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 176;
        __m256i lo[4], hi[4];
        q5_0x8_unpack(blk, lo, hi);
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));
        for (int k = 0; k < 4; k++) {
            __m256i isum = _mm256_sub_epi32(x8_dot_32(lo, hi, x + k * stride + 32 * b), _mm256_set1_epi32(16 * xsum[k * ds + b]));
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[k * ds + b])), _mm256_cvtepi32_ps(isum), acc[k]);
        }
    }
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + 8 * k, acc[k]);
}

#else

void ggml_simd_q5_0x8(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb, float *out) { ggml_plain_q5_0x8(w, x, xd, xsum, nb, out); }
void ggml_simd_q5_0x8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) { ggml_plain_q5_0x8_x4(w, x, xd, xsum, stride, nb, out); }

float ggml_simd_q5_0(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) { return ggml_plain_q5_0(w, x, xd, xsum, nb); }
void ggml_simd_q5_0_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) { ggml_plain_q5_0_x4(w, x, xd, xsum, stride, nb, out); }
#endif
