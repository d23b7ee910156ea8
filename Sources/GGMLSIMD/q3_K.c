// q3_K: 32 bytes of high bits (byte l, bit k: element 32k + l), 64 bytes of low 2 bits as q2_K's,
// 12 bytes of 6-bit scales, fp16 d (110 bytes); weight = d·(scale − 32)·(q − 4), q in 0…7.
// Quant/Q3_K.swift. The −4 enters through the activations' sums of 16: Σ(q−4)·x = Σq·x − 4·Σx.
// See include/GGMLSIMD.h and ggml_simd_internal.h.
#include "ggml_simd_internal.h"

float ggml_plain_q3_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) {
    const uint8_t *p = w;
    float acc = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 110, *hm = blk, *q = blk + 32;
        const int8_t *xb = x + 256 * b;
        int8_t sc[16];
        q3_K_scales(blk + 96, sc);
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++) {
                int e = 16 * j + l, h = e / 128, k = (e % 128) / 32, i = e % 32;
                int v = ((q[32 * h + i] >> (2 * k)) & 3) | ((hm[i] >> (e / 32)) & 1) << 2;
                s += v * xb[e];
            }
            isum += sc[j] * (s - 4 * bsums[16 * b + j]);
        }
        acc += half_to_float(blk + 108) * xd[b] * (float)isum;
    }
    return acc;
}

void ggml_plain_q3_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_q3_K(w, x + k * stride, xd + k * (stride / 256), bsums + k * (stride / 16), nb);
}

#if GGML_SIMD_X86

// The 256 values q = low | high << 2 (0…7) in element order, the scales per pair lane, and the
// signed scales themselves for the offset.
static inline void q3_K_unpack(const uint8_t *blk, __m256i *v, __m256i *S, int8_t *sc) {
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i hm = _mm256_loadu_si256((const __m256i *)blk);
    for (int h = 0; h < 2; h++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 32 + 32 * h));
        for (int k = 0; k < 4; k++) {
            __m256i low = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), m3);
            v[4 * h + k] = _mm256_or_si256(low, mask_to_bytes(hm, (uint8_t)(1 << (4 * h + k)), 4));
        }
    }
    q3_K_scales(blk + 96, sc);
    for (int i = 0; i < 8; i++) S[i] = scale_pair(sc[2 * i], sc[2 * i + 1]);
}

static inline int q3_K_offsets(const int8_t *sc, const int32_t *bs) {
    int s = 0;
    for (int j = 0; j < 16; j++) s += sc[j] * bs[j];
    return 4 * s;
}

float ggml_simd_q3_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) {
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps();
    float offsets = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 110;
        __m256i v[8], S[8];
        int8_t sc[16];
        q3_K_unpack(blk, v, S, sc);
        float d = half_to_float(blk + 108) * xd[b];
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(scaled_dot_256(v, x + 256 * b, S)), acc);
        offsets += d * (float)q3_K_offsets(sc, bsums + 16 * b);
    }
    return hsum(acc) - offsets;
}

void ggml_simd_q3_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 256, ss = stride / 16;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float offsets[4] = {0, 0, 0, 0};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 110;
        __m256i v[8], S[8];
        int8_t sc[16];
        q3_K_unpack(blk, v, S, sc);
        float dw = half_to_float(blk + 108);
        for (int k = 0; k < 4; k++) {
            float d = dw * xd[k * ds + b];
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(scaled_dot_256(v, x + k * stride + 256 * b, S)), acc[k]);
            offsets[k] += d * (float)q3_K_offsets(sc, bsums + k * ss + 16 * b);
        }
    }
    for (int k = 0; k < 4; k++) out[k] = hsum(acc[k]) - offsets[k];
}

#else

float ggml_simd_q3_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) { return ggml_plain_q3_K(w, x, xd, bsums, nb); }
void ggml_simd_q3_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) { ggml_plain_q3_K_x4(w, x, xd, bsums, stride, nb, out); }
#endif
