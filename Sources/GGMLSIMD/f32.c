// F32 weights times F32 activation rows, 4 at a time (Quant/F32.swift, a prompt's product) on CPUs whose
// vectors are 256 bits (AVX2), with exactly the arithmetic of F32Linear.block4x4, so that outputs,
// and the GPTQ / AWQ packages calibrated on them, are the same bits on every x86 machine.
//
// block4x4 gives each output 16 accumulator lanes: lane l sums w[i]·x[i] for i ≡ l (mod 16), one
// fused multiply-add at a time, over i < 16·⌊n/16⌋; then a tree (lanes 0-7 + 8-15, then halves of
// 4, 2, 1) and the last n mod 16 products fused one by one. Its 4 × 4 outputs hold 16 SIMD16
// accumulators, 32 of AVX2's 16 registers, and spill. Here a tile is 3 weight rows × 2 activation
// rows, each output's 16 lanes as two 8-lane registers: 12 accumulators, and every cache line
// loaded is used whole (a line is 16 values). Each lane's products are still added in order of i,
// so the sum may stop at a block boundary, wait in memory and go on: values are taken in blocks of
// 1,024 (4 KB a row), in which a tile's 3 weight rows stay in L1 while pairs of activation rows
// stream from L2, and in which the activation rows (32 at a time, 128 KB) stay in L2 while every
// tile of weight rows passes. (Two 8-lane passes over 3 × 4 tiles, the first version, fetched every
// line twice and read new activation rows from L2 faster than L2 delivers them.)
#include "F32SIMD.h"
#include "ggml_simd_internal.h"
#include <math.h>

// Products are fused exactly where block4x4's are (addProduct, addingProduct), nowhere else.
#pragma STDC FP_CONTRACT OFF

// The tail of block4x4's `finish`: the products past the last 16 fused one at a time onto the tree's sum.
static inline float tail(float s, const float *w, const float *x, long i, long n) {
    for (; i < n; i++) s = fmaf(w[i], x[i], s);
    return s;
}

// The tree and the tail of block4x4's `finish`, on the 16 lanes of one output.
static inline float finish16(const float lanes[16], const float *w, const float *x, long i, long n) {
    float a[8], b[4], c[2];
    for (int l = 0; l < 8; l++) a[l] = lanes[l] + lanes[l + 8];
    for (int l = 0; l < 4; l++) b[l] = a[l] + a[l + 4];
    for (int l = 0; l < 2; l++) c[l] = b[l] + b[l + 2];
    return tail(c[0] + c[1], w, x, i, n);
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

enum { BLOCK = 1024, ROW_CHUNK = 32, WEIGHT_CHUNK = 24 };

// RM weight rows × 2 activation rows over values [i0, i1): the lanes start at zero (i0 = 0) or
// where `sums` left them, and go back there unless the block is the last (then the outputs).
static inline __attribute__((always_inline)) void tile(int RM, const float *w, long n, const float *x, long i0, long i1, long full,
                                                      float sums[2][3][2][8], float *y, long ldy) {
    __m256 acc[3][2][2];
    for (int a = 0; a < RM; a++)
        for (int b = 0; b < 2; b++)
            for (int h = 0; h < 2; h++) acc[a][b][h] = i0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(sums[b][a][h]);
    for (long i = i0; i < i1; i += 16)
        for (int h = 0; h < 2; h++) {
            __m256 wv[3];
            for (int a = 0; a < RM; a++) wv[a] = _mm256_loadu_ps(w + a * n + i + 8 * h);
            for (int b = 0; b < 2; b++) {
                const __m256 xv = _mm256_loadu_ps(x + b * n + i + 8 * h);
                for (int a = 0; a < RM; a++) acc[a][b][h] = _mm256_fmadd_ps(wv[a], xv, acc[a][b][h]);
            }
        }
    for (int a = 0; a < RM; a++)
        for (int b = 0; b < 2; b++)
            if (i1 == full)
                // The tree: lanes 0-7 + 8-15, then hsum's halves of 4, 2, 1.
                y[b * ldy + a] = tail(hsum(_mm256_add_ps(acc[a][b][0], acc[a][b][1])), w + a * n, x + b * n, full, n);
            else
                for (int h = 0; h < 2; h++) _mm256_storeu_ps(sums[b][a][h], acc[a][b][h]);
}

void ggml_avx2_f32_rows4(const float *w, long m, long n, const float *x, long rows, float *y, long ldy) {
    // A block's partial sums for WEIGHT_CHUNK weight rows (F32Linear.tile) × ROW_CHUNK activation rows (48 KB).
    float sums[WEIGHT_CHUNK / 3][ROW_CHUNK / 2][2][3][2][8];
    const long full = n & ~15L;
    rows &= ~3L;
    for (long o0 = 0; o0 < m; o0 += WEIGHT_CHUNK) {
        const long o1 = o0 + WEIGHT_CHUNK < m ? o0 + WEIGHT_CHUNK : m;
        for (long r0 = 0; r0 < rows; r0 += ROW_CHUNK) {
            const long r1 = r0 + ROW_CHUNK < rows ? r0 + ROW_CHUNK : rows;
            // One pass with i0 = i1 = full when n < 16: only the tails.
            for (long i0 = 0; i0 < full || i0 == 0; i0 += BLOCK) {
                const long i1 = i0 + BLOCK < full ? i0 + BLOCK : full;
                for (long o = o0; o < o1; o += 3)
                    for (long r = r0; r < r1; r += 2) {
                        float(*t)[3][2][8] = sums[(o - o0) / 3][(r - r0) / 2];
                        const float *wo = w + o * n, *xr = x + r * n;
                        float *yr = y + r * ldy + o;
                        if (o1 - o >= 3) tile(3, wo, n, xr, i0, i1, full, t, yr, ldy);
                        else if (o1 - o == 2) tile(2, wo, n, xr, i0, i1, full, t, yr, ldy);
                        else tile(1, wo, n, xr, i0, i1, full, t, yr, ldy);
                    }
            }
        }
    }
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
