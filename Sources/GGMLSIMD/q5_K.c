// q5_K: fp16 d, fp16 dmin, 12 bytes of 6-bit scales/mins as q4_K's, 32 bytes of fifth bits (byte l,
// bits 2c / 2c+1: elements 64c + l / 64c + 32 + l), 128 bytes of nibbles as q4_K's (176 bytes);
// weight = d·sc·q − dmin·m, q in 0…31. Quant/Q5_K.swift.
// See include/GGMLSIMD.h and ggml_simd_internal.h.
#include "ggml_simd_tile.h"

float ggml_plain_q5_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) {
    const uint8_t *p = w;
    float acc = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 176, *qh = blk + 16, *q = blk + 48;
        const int8_t *xb = x + 256 * b;
        int isum = 0, summ = 0;
        for (int c = 0; c < 4; c++) {
            int s1, m1, s2, m2, lo = 0, hi = 0;
            scale_min(2 * c, blk + 4, &s1, &m1);
            scale_min(2 * c + 1, blk + 4, &s2, &m2);
            for (int j = 0; j < 32; j++) {
                lo += ((q[32 * c + j] & 15) | ((qh[j] >> (2 * c)) & 1) << 4) * xb[64 * c + j];
                hi += ((q[32 * c + j] >> 4) | ((qh[j] >> (2 * c + 1)) & 1) << 4) * xb[64 * c + 32 + j];
            }
            isum += s1 * lo + s2 * hi;
            summ += m1 * (bsums[16 * b + 4 * c] + bsums[16 * b + 4 * c + 1]) + m2 * (bsums[16 * b + 4 * c + 2] + bsums[16 * b + 4 * c + 3]);
        }
        acc += half_to_float(blk) * xd[b] * (float)isum - half_to_float(blk + 2) * xd[b] * (float)summ;
    }
    return acc;
}

void ggml_plain_q5_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_q5_K(w, x + k * stride, xd + k * (stride / 256), bsums + k * (stride / 16), nb);
}

PLAIN_GROUP_KERNELS(q5_K, 256, 176, 0, 2, 4, 16, 48)
PLAIN_TILE_KERNEL(q5_K, 176 * 8)

#if GGML_SIMD_X86

// The 256 values (0…31) in element order, the 8 scales broadcast, the 8 minimums.
static inline void q5_K_unpack(const uint8_t *blk, __m256i *v, __m256i *S, int *mins) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 16));
    for (int c = 0; c < 4; c++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 48 + 32 * c));
        v[2 * c] = _mm256_or_si256(_mm256_and_si256(q, m4), mask_to_bytes(qh, (uint8_t)(1 << (2 * c)), 16));
        v[2 * c + 1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), mask_to_bytes(qh, (uint8_t)(2 << (2 * c)), 16));
    }
    for (int j = 0; j < 8; j++) {
        int s;
        scale_min(j, blk + 4, &s, &mins[j]);
        S[j] = _mm256_set1_epi16((short)s);
    }
}

static inline int q5_K_mins(const int *mins, const int32_t *bs) {
    int s = 0;
    for (int j = 0; j < 8; j++) s += mins[j] * (bs[2 * j] + bs[2 * j + 1]);
    return s;
}

float ggml_simd_q5_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) {
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 176;
        __m256i v[8], S[8];
        int mv[8];
        q5_K_unpack(blk, v, S, mv);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(blk) * xd[b]), _mm256_cvtepi32_ps(scaled_dot_256(v, x + 256 * b, S)), acc);
        mins += half_to_float(blk + 2) * xd[b] * (float)q5_K_mins(mv, bsums + 16 * b);
    }
    return hsum(acc) - mins;
}

void ggml_simd_q5_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 256, ss = stride / 16;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float mins[4] = {0, 0, 0, 0};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 176;
        __m256i v[8], S[8];
        int mv[8];
        q5_K_unpack(blk, v, S, mv);
        float d = half_to_float(blk), dmin = half_to_float(blk + 2);
        for (int k = 0; k < 4; k++) {
            float dx = xd[k * ds + b];
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * dx), _mm256_cvtepi32_ps(scaled_dot_256(v, x + k * stride + 256 * b, S)), acc[k]);
            mins[k] += dmin * dx * (float)q5_K_mins(mv, bsums + k * ss + 16 * b);
        }
    }
    for (int k = 0; k < 4; k++) out[k] = hsum(acc[k]) - mins[k];
}


// Eight rows interleaved (1408-byte group blocks: 8 fp16 d, 8 fp16 dmin, scales as 3 vectors as
// q4_K's groups, fifth bits as 8 vectors, nibbles as 32): q4_K's 8-row kernel with the fifth bits
// (bits 2c / 2c+1 of fifth-bit vector t) added as 16.
static inline void q5_Kx8_unpack(const uint8_t *blk, int c, __m256i *lo, __m256i *hi) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int t = 0; t < 8; t++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 384 + 32 * (8 * c + t)));
        __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * t));
        lo[t] = _mm256_or_si256(_mm256_and_si256(q, m4), mask_to_bytes(qh, (uint8_t)(1 << (2 * c)), 16));
        hi[t] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), mask_to_bytes(qh, (uint8_t)(2 << (2 * c)), 16));
    }
}

// Sub-blocks 2c and 2c+1 (64 values) of the 8 rows against their activation bytes, scaled per lane.
static inline __m256i q5_Kx8_pair(const __m256i *lo, const __m256i *hi, const int8_t *x, const __m256i *sc, int c) {
    __m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256();
    for (int t = 0; t < 8; t++) {
        a = dot_u8s8_acc(a, lo[t], _mm256_set1_epi32(load_i32(x + 4 * t)));
        b = dot_u8s8_acc(b, hi[t], _mm256_set1_epi32(load_i32(x + 32 + 4 * t)));
    }
    return _mm256_add_epi32(_mm256_mullo_epi32(a, sc[2 * c]), _mm256_mullo_epi32(b, sc[2 * c + 1]));
}

void ggml_simd_q5_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out) {
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 1408;
        __m256i sc[8], mn[8], isum = _mm256_setzero_si256();
        q4_Kx8_scales(blk, sc, mn);
        for (int c = 0; c < 4; c++) {
            __m256i lo[8], hi[8];
            q5_Kx8_unpack(blk, c, lo, hi);
            isum = _mm256_add_epi32(isum, q5_Kx8_pair(lo, hi, x + 256 * b + 64 * c, sc, c));
        }
        __m256 dx = _mm256_set1_ps(xd[b]);
        __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)), dx);
        __m256 dmin = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 16))), dx);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
        acc = _mm256_fnmadd_ps(dmin, _mm256_cvtepi32_ps(q4_Kx8_mins(mn, bsums + 16 * b)), acc);
    }
    _mm256_storeu_ps(out, acc);
}

void ggml_simd_q5_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 256, ss = stride / 16;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 1408;
        __m256i sc[8], mn[8], isum[4];
        q4_Kx8_scales(blk, sc, mn);
        for (int k = 0; k < 4; k++) isum[k] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i lo[8], hi[8];
            q5_Kx8_unpack(blk, c, lo, hi);
            for (int k = 0; k < 4; k++) isum[k] = _mm256_add_epi32(isum[k], q5_Kx8_pair(lo, hi, x + k * stride + 256 * b + 64 * c, sc, c));
        }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)), mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 16)));
        for (int k = 0; k < 4; k++) {
            __m256 dx = _mm256_set1_ps(xd[k * ds + b]);
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, dx), _mm256_cvtepi32_ps(isum[k]), acc[k]);
            acc[k] = _mm256_fnmadd_ps(_mm256_mul_ps(mw, dx), _mm256_cvtepi32_ps(q4_Kx8_mins(mn, bsums + k * ss + 16 * b)), acc[k]);
        }
    }
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + 8 * k, acc[k]);
}

// Half h of a prefill tile (ggml_simd_tile.h): values 0…31, scales and minimums, d and dmin.
static inline void q5_K_tile(const uint8_t *blk, ggml_tile *t, int h) { tile_from_pairs(blk, t, h, q5_Kx8_unpack); }
TILE_KERNEL(q5_K, 1408, q5_K_tile, 32, 0, 31, 1)

#else
void ggml_simd_q5_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out) { ggml_plain_q5_Kx8(w, x, xd, bsums, nb, out); }
void ggml_simd_q5_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) { ggml_plain_q5_Kx8_x4(w, x, xd, bsums, stride, nb, out); }

float ggml_simd_q5_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) { return ggml_plain_q5_K(w, x, xd, bsums, nb); }
void ggml_simd_q5_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) { ggml_plain_q5_K_x4(w, x, xd, bsums, stride, nb, out); }
FALLBACK_TILE_KERNEL(q5_K)
#endif
