// F32 weights times F32 activation rows, 4 at a time (Quant/F32.swift, a prompt's product) on CPUs whose
// vectors are 256 bits (AVX2), with exactly the arithmetic of F32Linear.block4x4, so that outputs,
// and the GPTQ / AWQ packages calibrated on them, are the same bits on every x86 machine.
//
// block4x4 gives each output 16 accumulator lanes: lane l sums w[i]·x[i] for i ≡ l (mod 16), one
// fused multiply-add at a time, over i < 16·⌊n/16⌋; then a tree (lanes 0-7 + 8-15, then halves of
// 4, 2, 1) and the last n mod 16 products fused one by one. Its 4 × 4 outputs hold 16 SIMD16
// accumulators, 32 of AVX2's 16 registers, and spill. Lanes 0-7 and 8-15 never meet before the
// tree, so here they are two passes over the rows, each with 8-lane accumulators: 3 weight rows ×
// 4 activation rows are 12 registers, and each 32-byte load feeds 3 or 4 FMAs. The second pass
// finds the 7 rows (21 KB at n = 768) still in L1, and the 3 weight rows stay there while every
// group of 4 activation rows passes.
#include "F32SIMD.h"
#include <math.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

// Products are fused exactly where block4x4's are (addProduct, addingProduct), nowhere else.
#pragma STDC FP_CONTRACT OFF

// The tree and the tail of block4x4's `finish`, on the 16 lanes of one output.
static inline float finish16(const float lanes[16], const float *w, const float *x, long i, long n) {
    float a[8], b[4], c[2];
    for (int l = 0; l < 8; l++) a[l] = lanes[l] + lanes[l + 8];
    for (int l = 0; l < 4; l++) b[l] = a[l] + a[l + 4];
    for (int l = 0; l < 2; l++) c[l] = b[l] + b[l + 2];
    float s = c[0] + c[1];
    for (; i < n; i++) s = fmaf(w[i], x[i], s);
    return s;
}

void ggml_plain_f32_rows4(const float *w, long m, long n, const float *x, long rows, float *y, long ldy) {
    const long full = n & ~15L;
    for (long o = 0; o < m; o++)
        for (long r = 0; r < (rows & ~3L); r++) {
            const float *wo = w + o * n, *xr = x + r * n;
            float lanes[16] = {0};
            for (long i = 0; i < full; i += 16)
                for (int l = 0; l < 16; l++) lanes[l] = fmaf(wo[i + l], xr[i + l], lanes[l]);
            y[r * ldy + o] = finish16(lanes, wo, xr, full, n);
        }
}

#if defined(__AVX2__) && defined(__FMA__)

// One pass: lanes `half`·8 … half·8 + 7 of RM weight rows × 4 activation rows into out[a][b].
static inline __attribute__((always_inline)) void pass(int RM, int half, const float *w, long n, const float *x, long full,
                                                       float out[3][4][16]) {
    __m256 acc[3][4];
    for (int a = 0; a < RM; a++)
        for (int b = 0; b < 4; b++) acc[a][b] = _mm256_setzero_ps();
    for (long i = half * 8; i < full; i += 16) {
        __m256 wv[3];
        for (int a = 0; a < RM; a++) wv[a] = _mm256_loadu_ps(w + a * n + i);
        for (int b = 0; b < 4; b++) {
            const __m256 xv = _mm256_loadu_ps(x + b * n + i);
            for (int a = 0; a < RM; a++) acc[a][b] = _mm256_fmadd_ps(wv[a], xv, acc[a][b]);
        }
    }
    for (int a = 0; a < RM; a++)
        for (int b = 0; b < 4; b++) _mm256_storeu_ps(&out[a][b][half * 8], acc[a][b]);
}

static inline __attribute__((always_inline)) void tile(int RM, const float *w, long n, const float *x, float *y, long ldy) {
    const long full = n & ~15L;
    float lanes[3][4][16];
    pass(RM, 0, w, n, x, full, lanes);
    pass(RM, 1, w, n, x, full, lanes);
    for (int a = 0; a < RM; a++)
        for (int b = 0; b < 4; b++) y[b * ldy + a] = finish16(lanes[a][b], w + a * n, x + b * n, full, n);
}

// RM weight rows against every group of 4 activation rows.
#define ROW_GROUPS(NAME, RM) \
    static void NAME(const float *w, long n, const float *x, long rows, float *y, long ldy) { \
        for (long r = 0; r + 4 <= rows; r += 4) tile(RM, w, n, x + r * n, y + r * ldy, ldy); \
    }
ROW_GROUPS(tile3, 3)
ROW_GROUPS(tile2, 2)
ROW_GROUPS(tile1, 1)

void ggml_avx2_f32_rows4(const float *w, long m, long n, const float *x, long rows, float *y, long ldy) {
    // 3-row tiles, and where one row would be left (F32Linear passes 16), two 2-row ones instead:
    // a 1-row tile loads 5 vectors for 4 FMAs.
    const long threes = m % 3 == 1 && m >= 4 ? m / 3 - 1 : m / 3;
    long o = 0;
    for (; o < 3 * threes; o += 3) tile3(w + o * n, n, x, rows, y + o, ldy);
    for (; o + 2 <= m; o += 2) tile2(w + o * n, n, x, rows, y + o, ldy);
    if (o < m) tile1(w + o * n, n, x, rows, y + o, ldy);
}

#else
void ggml_avx2_f32_rows4(const float *w, long m, long n, const float *x, long rows, float *y, long ldy) { ggml_plain_f32_rows4(w, m, n, x, rows, y, ldy); }
#endif

int ggml_simd_vector_bits(void) {
#if defined(__AVX512F__)
    return 512;
#elif defined(__AVX2__)
    return 256;
#else
    return 0;
#endif
}
