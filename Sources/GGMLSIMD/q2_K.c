// q2_K: 16 bytes of 4-bit scale | 4-bit min per 16 values, 64 bytes of 2-bit quants (byte l of
// half h holds elements 128h + 32k + l at bits 2k), fp16 d, fp16 dmin (84 bytes); weight =
// d·scale·q − dmin·min. Quant/Q2_K.swift. The minimums enter through the activations' sums of 16.
// See include/GGMLSIMD.h and ggml_simd_internal.h.
#include "ggml_simd_tile.h"

float ggml_plain_q2_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) {
    const uint8_t *p = w;
    float acc = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 84, *q = blk + 16;
        const int8_t *xb = x + 256 * b;
        int isum = 0, summ = 0;
        for (int j = 0; j < 16; j++) {
            int h = j / 8, k = (j % 8) / 2, s = 0;
            for (int l = 0; l < 16; l++) s += ((q[32 * h + 16 * (j % 2) + l] >> (2 * k)) & 3) * xb[16 * j + l];
            isum += (blk[j] & 15) * s;
            summ += (blk[j] >> 4) * bsums[16 * b + j];
        }
        acc += half_to_float(blk + 80) * xd[b] * (float)isum - half_to_float(blk + 82) * xd[b] * (float)summ;
    }
    return acc;
}

void ggml_plain_q2_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_q2_K(w, x + k * stride, xd + k * (stride / 256), bsums + k * (stride / 16), nb);
}

PLAIN_GROUP_KERNELS(q2_K, 256, 84, 0, 16, 80, 82)
PLAIN_TILE_KERNEL(q2_K, 84 * 8)

#if GGML_SIMD_X86

// The 256 quants in element order (vector 4h + k: bits 2k of half h) and the scales per pair lane.
static inline void q2_K_unpack(const uint8_t *blk, __m256i *v, __m256i *S) {
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * h));
        for (int k = 0; k < 4; k++) v[4 * h + k] = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), m3);
    }
    for (int i = 0; i < 8; i++) S[i] = scale_pair(blk[2 * i] & 15, blk[2 * i + 1] & 15);
}

static inline int q2_K_mins(const uint8_t *blk, const int32_t *bs) {
    int s = 0;
    for (int j = 0; j < 16; j++) s += (blk[j] >> 4) * bs[j];
    return s;
}

float ggml_simd_q2_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) {
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 84;
        __m256i v[8], S[8];
        q2_K_unpack(blk, v, S);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(blk + 80) * xd[b]), _mm256_cvtepi32_ps(scaled_dot_256(v, x + 256 * b, S)), acc);
        mins += half_to_float(blk + 82) * xd[b] * (float)q2_K_mins(blk, bsums + 16 * b);
    }
    return hsum(acc) - mins;
}

void ggml_simd_q2_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 256, ss = stride / 16;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float mins[4] = {0, 0, 0, 0};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 84;
        __m256i v[8], S[8];
        q2_K_unpack(blk, v, S);
        float d = half_to_float(blk + 80), dmin = half_to_float(blk + 82);
        for (int k = 0; k < 4; k++) {
            float dx = xd[k * ds + b];
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * dx), _mm256_cvtepi32_ps(scaled_dot_256(v, x + k * stride + 256 * b, S)), acc[k]);
            mins[k] += dmin * dx * (float)q2_K_mins(blk, bsums + k * ss + 16 * b);
        }
    }
    for (int k = 0; k < 4; k++) out[k] = hsum(acc[k]) - mins[k];
}


// Eight rows interleaved (672-byte group blocks: scales as 4 vectors, quants as 16, 8 fp16 d, 8 fp16
// dmin). Sub-block j (16 values, 128h + 32k + 16(j%2)…) is 4 vectors: bits 2k of quant vectors
// 8h + 4(j%2) + i, each 4 consecutive elements of every row; its vpdpbusd sums take the rows' own
// 4-bit scales lane by lane, and the minimums Σ min·(Σx of the 16) likewise.
static inline void q2_Kx8_scales(const uint8_t *blk, __m256i *sc, __m256i *mn) {
    const __m256i m15 = _mm256_set1_epi32(15);
    for (int j = 0; j < 16; j++) {
        __m256i t = _mm256_srl_epi32(_mm256_loadu_si256((const __m256i *)(blk + 32 * (j / 4))), _mm_cvtsi32_si128(8 * (j % 4)));
        sc[j] = _mm256_and_si256(t, m15);
        mn[j] = _mm256_and_si256(_mm256_srli_epi32(t, 4), m15);
    }
}

static inline void q2_Kx8_unpack_sub(const uint8_t *blk, int j, __m256i *v) {
    const int h = j / 8, k = (j % 8) / 2, t0 = 4 * (j % 2);
    for (int i = 0; i < 4; i++)
        v[i] = _mm256_and_si256(_mm256_srl_epi16(_mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * (8 * h + t0 + i))), _mm_cvtsi32_si128(2 * k)), _mm256_set1_epi8(3));
}

static inline __m256i q2_Kx8_sub(const __m256i *v, const int8_t *x, int j) {
    const int e = 128 * (j / 8) + 32 * ((j % 8) / 2) + 16 * (j % 2);
    __m256i a = _mm256_setzero_si256();
    for (int i = 0; i < 4; i++) a = dot_u8s8_acc(a, v[i], _mm256_set1_epi32(load_i32(x + e + 4 * i)));
    return a;
}

static inline __m256i q2_Kx8_mins(const __m256i *mn, const int32_t *bs) {
    __m256i s = _mm256_setzero_si256();
    for (int j = 0; j < 16; j++) s = _mm256_add_epi32(s, _mm256_mullo_epi32(mn[j], _mm256_set1_epi32(bs[j])));
    return s;
}

void ggml_simd_q2_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out) {
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 672;
        __m256i sc[16], mn[16], isum = _mm256_setzero_si256();
        q2_Kx8_scales(blk, sc, mn);
        for (int j = 0; j < 16; j++) {
            __m256i v[4];
            q2_Kx8_unpack_sub(blk, j, v);
            isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(q2_Kx8_sub(v, x + 256 * b, j), sc[j]));
        }
        __m256 dx = _mm256_set1_ps(xd[b]);
        __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 640))), dx);
        __m256 dmin = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 656))), dx);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
        acc = _mm256_fnmadd_ps(dmin, _mm256_cvtepi32_ps(q2_Kx8_mins(mn, bsums + 16 * b)), acc);
    }
    _mm256_storeu_ps(out, acc);
}

void ggml_simd_q2_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 256, ss = stride / 16;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 672;
        __m256i sc[16], mn[16], isum[4];
        q2_Kx8_scales(blk, sc, mn);
        for (int k = 0; k < 4; k++) isum[k] = _mm256_setzero_si256();
        for (int j = 0; j < 16; j++) {
            __m256i v[4];
            q2_Kx8_unpack_sub(blk, j, v);
            for (int k = 0; k < 4; k++) isum[k] = _mm256_add_epi32(isum[k], _mm256_mullo_epi32(q2_Kx8_sub(v, x + k * stride + 256 * b, j), sc[j]));
        }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 640))), mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 656)));
        for (int k = 0; k < 4; k++) {
            __m256 dx = _mm256_set1_ps(xd[k * ds + b]);
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, dx), _mm256_cvtepi32_ps(isum[k]), acc[k]);
            acc[k] = _mm256_fnmadd_ps(_mm256_mul_ps(mw, dx), _mm256_cvtepi32_ps(q2_Kx8_mins(mn, bsums + k * ss + 16 * b)), acc[k]);
        }
    }
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + 8 * k, acc[k]);
}

// Half h of a prefill tile (ggml_simd_tile.h): values 0…3, scales and minimums, d and dmin.
static inline void q2_K_tile(const uint8_t *blk, ggml_tile *t, int h) {
    __m256i sc[16], mn[16];
    for (int j = 0; j < 16; j++) {
        __m256i v[4];
        q2_Kx8_unpack_sub(blk, j, v);
        for (int i = 0; i < 4; i++) tile_values(t, h, 4 * j + i, v[i]);
    }
    q2_Kx8_scales(blk, sc, mn);
    for (int j = 0; j < 16; j++) { tile_scale(t, h, j, sc[j]); tile_min(t, h, j, mn[j]); }
    tile_d(t, h, blk + 640, blk + 656);
}
TILE_KERNEL(q2_K, 672, q2_K_tile, 16, 0, 3, 1)

#else
void ggml_simd_q2_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out) { ggml_plain_q2_Kx8(w, x, xd, bsums, nb, out); }
void ggml_simd_q2_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) { ggml_plain_q2_Kx8_x4(w, x, xd, bsums, stride, nb, out); }

float ggml_simd_q2_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) { return ggml_plain_q2_K(w, x, xd, bsums, nb); }
void ggml_simd_q2_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) { ggml_plain_q2_K_x4(w, x, xd, bsums, stride, nb, out); }
FALLBACK_TILE_KERNEL(q2_K)
#endif
