// q4_K: fp16 d, fp16 dmin, 12 bytes of 6-bit scales/mins, 4 × 32 bytes of nibbles (144 bytes); Quant/Q4_K.swift.
// See include/GGMLSIMD.h and ggml_simd_internal.h.
#include "ggml_simd_tile.h"

float ggml_plain_q4_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) {
    const uint8_t *p = w;
    float acc = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 144, *q = blk + 16;
        const int8_t *xb = x + 256 * b;
        int isum = 0, summ = 0;
        for (int c = 0; c < 4; c++) {
            int s1, m1, s2, m2, lo = 0, hi = 0;
            scale_min(2 * c, blk + 4, &s1, &m1);
            scale_min(2 * c + 1, blk + 4, &s2, &m2);
            for (int j = 0; j < 32; j++) {
                lo += (q[32 * c + j] & 15) * xb[64 * c + j];
                hi += (q[32 * c + j] >> 4) * xb[64 * c + 32 + j];
            }
            isum += s1 * lo + s2 * hi;
            summ += m1 * (bsums[16 * b + 4 * c] + bsums[16 * b + 4 * c + 1]) + m2 * (bsums[16 * b + 4 * c + 2] + bsums[16 * b + 4 * c + 3]);
        }
        acc += half_to_float(blk) * xd[b] * (float)isum - half_to_float(blk + 2) * xd[b] * (float)summ;
    }
    return acc;
}

void ggml_plain_q4_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_q4_K(w, x + k * stride, xd + k * (stride / 256), bsums + k * (stride / 16), nb);
}

void ggml_plain_q4_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out) {
    static const int fields[] = {0, 2, 4, 16};
    const uint8_t *p = w;
    for (int r = 0; r < 8; r++) {
        float acc = 0;
        for (int b = 0; b < nb; b++) {
            const uint8_t *blk = p + b * 1152;
            uint8_t row[144];
            for (int i = 0; i < 144; i++) row[i] = group_byte(blk, fields, 4, 144, r, i);
            acc += ggml_plain_q4_K(row, x + 256 * b, xd + b, bsums + 16 * b, 1);
        }
        out[r] = acc;
    }
}

void ggml_plain_q4_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) ggml_plain_q4_Kx8(w, x + k * stride, xd + k * (stride / 256), bsums + k * (stride / 16), nb, out + 8 * k);
}

PLAIN_TILE_KERNEL(q4_K, 144 * 8)

#if GGML_SIMD_X86

// One q4_K super-block against one activation row: the integer sum Σ sc_j·Σq·x in 8 lanes
// (pair sums of q·x fit 16 bits, times a 6-bit scale summed in pairs fits 32). The scales are
// unpacked and broadcast with scalar code, which runs beside the vector work (an all-vector
// unpacking with shuffles measured 8% slower).
static inline __m256i q4_K_block(const uint8_t *q, const int8_t *x, const __m256i *sc) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i isum = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(q + 32 * c));
        __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        __m256i pl = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(x + 64 * c)));
        __m256i ph = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(x + 64 * c + 32)));
        isum = _mm256_add_epi32(isum, _mm256_add_epi32(_mm256_madd_epi16(pl, sc[2 * c]), _mm256_madd_epi16(ph, sc[2 * c + 1])));
    }
    return isum;
}

float ggml_simd_q4_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) {
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 144;
        __m256i sc[8];
        int summ = 0;
        for (int j = 0; j < 8; j++) {
            int s, m;
            scale_min(j, blk + 4, &s, &m);
            sc[j] = _mm256_set1_epi16((short)s);
            summ += m * (bsums[16 * b + 2 * j] + bsums[16 * b + 2 * j + 1]);
        }
        __m256i isum = q4_K_block(blk + 16, x + 256 * b, sc);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(blk) * xd[b]), _mm256_cvtepi32_ps(isum), acc);
        mins += half_to_float(blk + 2) * xd[b] * (float)summ;
    }
    return hsum(acc) - mins;
}

void ggml_simd_q4_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 256, ss = stride / 16;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float mins[4] = {0, 0, 0, 0};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 144;
        __m256i sc[8];
        int mv[8];
        for (int j = 0; j < 8; j++) {
            int s;
            scale_min(j, blk + 4, &s, &mv[j]);
            sc[j] = _mm256_set1_epi16((short)s);
        }
        // The nibbles are unpacked once and multiplied with each row's activations.
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        __m256i is[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int c = 0; c < 4; c++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * c));
            __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            for (int k = 0; k < 4; k++) {
                const int8_t *xk = x + k * stride + 256 * b + 64 * c;
                __m256i pl = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)xk));
                __m256i ph = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(xk + 32)));
                is[k] = _mm256_add_epi32(is[k], _mm256_add_epi32(_mm256_madd_epi16(pl, sc[2 * c]), _mm256_madd_epi16(ph, sc[2 * c + 1])));
            }
        }
        float d = half_to_float(blk), dmin = half_to_float(blk + 2);
        for (int k = 0; k < 4; k++) {
            __m256i isum = is[k];
            const int32_t *bs = bsums + k * ss + 16 * b;
            int summ = 0;
            for (int j = 0; j < 8; j++) summ += mv[j] * (bs[2 * j] + bs[2 * j + 1]);
            float dx = xd[k * ds + b];
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * dx), _mm256_cvtepi32_ps(isum), acc[k]);
            mins[k] += dmin * dx * (float)summ;
        }
    }
    for (int k = 0; k < 4; k++) out[k] = hsum(acc[k]) - mins[k];
}

// Sub-block pair c (64 values) of 8 rows against 64 activation bytes: Σq·x per row for the low
// nibbles (sub-block 2c) and the high ones (2c+1).
static inline void q4_Kx8_pair(const __m256i *lo, const __m256i *hi, const int8_t *x, __m256i *slo, __m256i *shi) {
    __m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256();
    for (int v = 0; v < 8; v++) {
        a = dot_u8s8_acc(a, lo[v], _mm256_set1_epi32(load_i32(x + 4 * v)));
        b = dot_u8s8_acc(b, hi[v], _mm256_set1_epi32(load_i32(x + 32 + 4 * v)));
    }
    *slo = a; *shi = b;
}

static inline void q4_Kx8_unpack(const uint8_t *blk, int c, __m256i *lo, __m256i *hi) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int v = 0; v < 8; v++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * (8 * c + v)));
        lo[v] = _mm256_and_si256(q, m4);
        hi[v] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    }
}


void ggml_simd_q4_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out) {
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 1152;
        __m256i sc[8], mn[8], isum = _mm256_setzero_si256();
        q4_Kx8_scales(blk, sc, mn);
        for (int c = 0; c < 4; c++) {
            __m256i lo[8], hi[8], slo, shi;
            q4_Kx8_unpack(blk, c, lo, hi);
            q4_Kx8_pair(lo, hi, x + 256 * b + 64 * c, &slo, &shi);
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(_mm256_mullo_epi32(slo, sc[2 * c]), _mm256_mullo_epi32(shi, sc[2 * c + 1])));
        }
        __m256 dx = _mm256_set1_ps(xd[b]);
        __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)), dx);
        __m256 dmin = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 16))), dx);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
        accm = _mm256_fmadd_ps(dmin, _mm256_cvtepi32_ps(q4_Kx8_mins(mn, bsums + 16 * b)), accm);
    }
    _mm256_storeu_ps(out, _mm256_sub_ps(acc, accm));
}

void ggml_simd_q4_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 256, ss = stride / 16;
    __m256 acc[4], accm[4];
    for (int k = 0; k < 4; k++) { acc[k] = _mm256_setzero_ps(); accm[k] = _mm256_setzero_ps(); }
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 1152;
        __m256i sc[8], mn[8], isum[4];
        q4_Kx8_scales(blk, sc, mn);
        for (int k = 0; k < 4; k++) isum[k] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i lo[8], hi[8];
            q4_Kx8_unpack(blk, c, lo, hi);
            for (int k = 0; k < 4; k++) {
                __m256i slo, shi;
                q4_Kx8_pair(lo, hi, x + k * stride + 256 * b + 64 * c, &slo, &shi);
                isum[k] = _mm256_add_epi32(isum[k], _mm256_add_epi32(_mm256_mullo_epi32(slo, sc[2 * c]), _mm256_mullo_epi32(shi, sc[2 * c + 1])));
            }
        }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));
        __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 16)));
        for (int k = 0; k < 4; k++) {
            __m256 dx = _mm256_set1_ps(xd[k * ds + b]);
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, dx), _mm256_cvtepi32_ps(isum[k]), acc[k]);
            accm[k] = _mm256_fmadd_ps(_mm256_mul_ps(mw, dx), _mm256_cvtepi32_ps(q4_Kx8_mins(mn, bsums + k * ss + 16 * b)), accm[k]);
        }
    }
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + 8 * k, _mm256_sub_ps(acc[k], accm[k]));
}

// Half h of a prefill tile (ggml_simd_tile.h): values 0…15, scales and minimums, d and dmin.
static inline void q4_K_tile(const uint8_t *blk, ggml_tile *t, int h) { tile_from_pairs(blk, t, h, q4_Kx8_unpack); }
TILE_KERNEL(q4_K, 1152, q4_K_tile, 32, 0, 15, 1)


#else

float ggml_simd_q4_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) { return ggml_plain_q4_K(w, x, xd, bsums, nb); }
void ggml_simd_q4_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) { ggml_plain_q4_K_x4(w, x, xd, bsums, stride, nb, out); }
void ggml_simd_q4_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out) { ggml_plain_q4_Kx8(w, x, xd, bsums, nb, out); }
void ggml_simd_q4_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) { ggml_plain_q4_Kx8_x4(w, x, xd, bsums, stride, nb, out); }
FALLBACK_TILE_KERNEL(q4_K)
#endif
