// fp16 weights (IEEE half, row-major [out][n], Quant/F16.swift) times F32 activation rows: the
// prompt's product. Weights are widened in registers as they are loaded (vcvtph2ps), so the caches
// hold them at 2 bytes a value and nothing is written back; 4 weight rows × up to 6 activation rows
// of 16-lane accumulators (24 of the 32 vector registers) give each loaded vector 4-6 FMAs.
// The plain C version is the fallback and the tests' twin (with F16Linear.referenceDot).
#include "ggml_simd_internal.h"

void ggml_plain_f16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) {
    for (long o = 0; o < m; o++)
        for (long r = 0; r < rows; r++) {
            float s = 0;
            for (long i = 0; i < n; i++) s += half_to_float((const uint8_t *)(w + o * n + i)) * x[r * n + i];
            y[r * ldy + o] = s;
        }
}

#if defined(__AVX512F__) && defined(__F16C__)

// RM (4 or 1) weight rows × RN activation rows over all n values; y[b·ldy + a] for a < RM, b < RN.
// Inlined with constant RM / RN, so the accumulators live in registers.
static inline __attribute__((always_inline)) void f16_tile(int RM, int RN, const uint16_t *w, long n, const float *x, float *y, long ldy) {
    __m512 acc[4][6];
    for (int a = 0; a < RM; a++)
        for (int b = 0; b < RN; b++) acc[a][b] = _mm512_setzero_ps();
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 wv[4];
        for (int a = 0; a < RM; a++) wv[a] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + a * n + i)));
        for (int b = 0; b < RN; b++) {
            __m512 xv = _mm512_loadu_ps(x + b * n + i);
            for (int a = 0; a < RM; a++) acc[a][b] = _mm512_fmadd_ps(wv[a], xv, acc[a][b]);
        }
    }
    if (i < n) {   // the last n mod 16 values, masked (the lanes past n load as zero)
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        __m512 wv[4];
        for (int a = 0; a < RM; a++) wv[a] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, w + a * n + i));
        for (int b = 0; b < RN; b++) {
            __m512 xv = _mm512_maskz_loadu_ps(k, x + b * n + i);
            for (int a = 0; a < RM; a++) acc[a][b] = _mm512_fmadd_ps(wv[a], xv, acc[a][b]);
        }
    }
    for (int b = 0; b < RN; b++) {
        if (RM == 4) {   // four sums at once: halves added, then a tree of horizontal adds
            __m256 v[4];
            for (int a = 0; a < 4; a++) v[a] = _mm256_add_ps(_mm512_castps512_ps256(acc[a][b]), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[a][b]), 1)));
            __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
            _mm_storeu_ps(y + b * ldy, _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1)));
        } else {
            for (int a = 0; a < RM; a++) y[b * ldy + a] = _mm512_reduce_add_ps(acc[a][b]);
        }
    }
}

#define F16_TILES(RM) \
    switch (rn) { \
    case 1: f16_tile(RM, 1, w, n, x, y, ldy); break; \
    case 2: f16_tile(RM, 2, w, n, x, y, ldy); break; \
    case 3: f16_tile(RM, 3, w, n, x, y, ldy); break; \
    case 4: f16_tile(RM, 4, w, n, x, y, ldy); break; \
    case 5: f16_tile(RM, 5, w, n, x, y, ldy); break; \
    default: f16_tile(RM, 6, w, n, x, y, ldy); break; \
    }
static void f16_tile4(int rn, const uint16_t *w, long n, const float *x, float *y, long ldy) { F16_TILES(4) }
static void f16_tile1(int rn, const uint16_t *w, long n, const float *x, float *y, long ldy) { F16_TILES(1) }

void ggml_simd_f16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) {
    // Weight rows in tiles of about 48 KB (L1 or L2), which stay in cache while every activation row passes over them.
    long tile = (24576 / n) & ~3L;
    if (tile < 4) tile = 4;
    for (long o0 = 0; o0 < m; o0 += tile) {
        long o1 = o0 + tile < m ? o0 + tile : m;
        for (long r = 0; r < rows; r += 6) {
            int rn = rows - r < 6 ? (int)(rows - r) : 6;
            long o = o0;
            for (; o + 4 <= o1; o += 4) f16_tile4(rn, w + o * n, n, x + r * n, y + r * ldy + o, ldy);
            for (; o < o1; o++) f16_tile1(rn, w + o * n, n, x + r * n, y + r * ldy + o, ldy);
        }
    }
}

#else
void ggml_simd_f16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) { ggml_plain_f16_matmul(w, m, n, x, rows, y, ldy); }
#endif
