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

void ggml_plain_q5_0_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_q5_0(w, x + k * stride, xd + k * (stride / 32), xsum + k * (stride / 32), nb);
}

#if GGML_SIMD_X86

// q5_0's 32 weights of a block as bytes 0…31: the nibbles as q4_0's, each fifth bit (bit j of qh
// for element j) as 16.
static inline __m256i q5_0_values(const uint8_t *blk) {
    uint32_t qh;
    memcpy(&qh, blk + 2, 4);
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    __m256i high = _mm256_maskz_mov_epi8((__mmask32)qh, _mm256_set1_epi8(16));
#else
    // byte j takes byte j/8 of qh, then keeps bit j%8 (llama.cpp's bytes_from_bits_32)
    const __m256i shuf = _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), shuf);
    bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    __m256i high = _mm256_and_si256(_mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1)), _mm256_set1_epi8(16));
#endif
    return _mm256_or_si256(q4_0_nibbles(blk + 6), high);
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

#else

float ggml_simd_q5_0(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) { return ggml_plain_q5_0(w, x, xd, xsum, nb); }
void ggml_simd_q5_0_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) { ggml_plain_q5_0_x4(w, x, xd, xsum, stride, nb, out); }
#endif
