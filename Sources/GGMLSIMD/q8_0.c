// q8_0: fp16 d, 32 × int8 (34 bytes); the layout of Quant/Q8_0.swift.
// See include/GGMLSIMD.h and ggml_simd_internal.h.
#include "ggml_simd_internal.h"

float ggml_plain_q8_0(const void *w, const int8_t *x, const float *xd, int nb) {
    const uint8_t *p = w;
    float acc = 0;
    for (int b = 0; b < nb; b++) {
        const int8_t *q = (const int8_t *)(p + b * 34 + 2);
        int s = 0;
        for (int j = 0; j < 32; j++) s += q[j] * x[b * 32 + j];
        acc += half_to_float(p + b * 34) * xd[b] * (float)s;
    }
    return acc;
}

void ggml_plain_q8_0_x4(const void *w, const int8_t *x, const float *xd, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_q8_0(w, x + k * stride, xd + k * (stride / 32), nb);
}

void ggml_plain_q8_0x8(const void *w, const int8_t *x, const float *xd, int nb, float *out) {
    static const int fields[] = {0, 2};
    const uint8_t *p = w;
    for (int r = 0; r < 8; r++) {
        float acc = 0;
        for (int b = 0; b < nb; b++) {
            const uint8_t *blk = p + b * 272;
            uint8_t row[34];
            for (int i = 0; i < 34; i++) row[i] = group_byte(blk, fields, 2, 34, r, i);
            acc += ggml_plain_q8_0(row, x + 32 * b, xd + b, 1);
        }
        out[r] = acc;
    }
}

void ggml_plain_q8_0x8_x4(const void *w, const int8_t *x, const float *xd, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) ggml_plain_q8_0x8(w, x + k * stride, xd + k * (stride / 32), nb, out + 8 * k);
}

#if GGML_SIMD_X86

float ggml_simd_q8_0(const void *w, const int8_t *x, const float *xd, int nb) {
    const uint8_t *p = w;
#define Q8_0_STEP(B, A) { \
        const uint8_t *blk = p + (B) * 34; \
        __m256i wv = _mm256_loadu_si256((const __m256i *)(blk + 2)); \
        __m256i xv = _mm256_loadu_si256((const __m256i *)(x + (B) * 32)); \
        __m256 s = _mm256_cvtepi32_ps(dot_u8s8(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv))); \
        A = _mm256_fmadd_ps(block_scale(blk, xd[B]), s, A); }
    BLOCK_LOOP(Q8_0_STEP)
}

void ggml_simd_q8_0_x4(const void *w, const int8_t *x, const float *xd, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 32;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 34;
        __m256i wv = _mm256_loadu_si256((const __m256i *)(blk + 2)), aw = _mm256_sign_epi8(wv, wv);
        __m256 dw = block_scale(blk, 1);
        for (int k = 0; k < 4; k++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(x + k * stride + b * 32));
            __m256 s = _mm256_cvtepi32_ps(dot_u8s8(aw, _mm256_sign_epi8(xv, wv)));
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[k * ds + b])), s, acc[k]);
        }
    }
    for (int k = 0; k < 4; k++) out[k] = hsum(acc[k]);
}

// q8_0, 8 rows: |w| against x with w's signs, as in ggml_simd_q8_0, a lane per row.
static inline __m256i q8_0x8_block(const uint8_t *blk, const int8_t *x) {
    __m256i isum = _mm256_setzero_si256();
    for (int v = 0; v < 8; v++) {
        __m256i wv = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * v));
        isum = dot_u8s8_acc(isum, _mm256_sign_epi8(wv, wv), _mm256_sign_epi8(_mm256_set1_epi32(load_i32(x + 4 * v)), wv));
    }
    return isum;
}

void ggml_simd_q8_0x8(const void *w, const int8_t *x, const float *xd, int nb, float *out) {
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 272;
        __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)), _mm256_set1_ps(xd[b]));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q8_0x8_block(blk, x + 32 * b)), acc);
    }
    _mm256_storeu_ps(out, acc);
}

void ggml_simd_q8_0x8_x4(const void *w, const int8_t *x, const float *xd, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 32;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 272;
        __m256i aw[8], sg[8];
        for (int v = 0; v < 8; v++) { sg[v] = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * v)); aw[v] = _mm256_sign_epi8(sg[v], sg[v]); }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));
        for (int k = 0; k < 4; k++) {
            const int8_t *xb = x + k * stride + 32 * b;
            __m256i isum = _mm256_setzero_si256();
            for (int v = 0; v < 8; v++) isum = dot_u8s8_acc(isum, aw[v], _mm256_sign_epi8(_mm256_set1_epi32(load_i32(xb + 4 * v)), sg[v]));
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[k * ds + b])), _mm256_cvtepi32_ps(isum), acc[k]);
        }
    }
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + 8 * k, acc[k]);
}

#else

float ggml_simd_q8_0(const void *w, const int8_t *x, const float *xd, int nb) { return ggml_plain_q8_0(w, x, xd, nb); }
void ggml_simd_q8_0_x4(const void *w, const int8_t *x, const float *xd, long stride, int nb, float *out) { ggml_plain_q8_0_x4(w, x, xd, stride, nb, out); }
void ggml_simd_q8_0x8(const void *w, const int8_t *x, const float *xd, int nb, float *out) { ggml_plain_q8_0x8(w, x, xd, nb, out); }
void ggml_simd_q8_0x8_x4(const void *w, const int8_t *x, const float *xd, long stride, int nb, float *out) { ggml_plain_q8_0x8_x4(w, x, xd, stride, nb, out); }
#endif
